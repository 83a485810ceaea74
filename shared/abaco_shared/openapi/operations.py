"""Every endpoint of the three APIs as one declarative :class:`Op` (reference 1.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .schemas import PAGE, SEARCH, Schema

# --- operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One endpoint. ``result`` names a schema (``[Name]`` for a list, None for a null result);
    ``produces`` is ``json`` (the envelope), ``octet``, ``logs`` (a sync call), ``results`` (raw
    bytes, or the envelope), ``text`` (the envelope, or a text/plain stream), ``prometheus``
    (text/plain metrics) or ``html``."""

    method: str
    path: str
    operation_id: str
    summary: str
    app: str
    permission: str
    result: str | None = None
    body: str | None = None
    query: tuple[str, ...] = ()
    extra_errors: tuple[int, ...] = ()
    produces: str = "json"
    auth: bool = True
    tag: str = "actors"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{([^}]+)}", self.path)


REG, MES, ADM = "registration", "messages", "admin"
A = "/actors/{actor_id}"
EX = A + "/executions/{execution_id}"
AL = "/actors/aliases/{alias}"
CF = "/actors/configs/{config_name}"

OPERATIONS: tuple[Op, ...] = (
    # actors
    Op(
        "GET",
        "/actors",
        "listActors",
        "List the actors the caller can read (extra parameters search).",
        REG,
        "READ per actor",
        "[Actor]",
        query=SEARCH,
    ),
    Op(
        "POST",
        "/actors",
        "createActor",
        "Register an actor; the creator gets UPDATE.",
        REG,
        "any role",
        "Actor",
        body="actor",
        extra_errors=(413,),
    ),
    Op("GET", A, "getActor", "One actor.", REG, "READ", "Actor"),
    Op(
        "PUT",
        A,
        "updateActor",
        "Update an actor (fields left out keep their value).",
        REG,
        "UPDATE",
        "Actor",
        body="actor_update",
        extra_errors=(409, 413),
    ),
    Op(
        "DELETE",
        A,
        "deleteActor",
        "Delete an actor and everything that points at it.",
        REG,
        "UPDATE",
        extra_errors=(409,),
    ),
    Op("GET", A + "/state", "getState", "The state of a stateful actor.", REG, "READ", "State", tag="state"),
    Op(
        "POST",
        A + "/state",
        "updateState",
        "Replace the state (any JSON value).",
        REG,
        "UPDATE",
        "Actor",
        body="state",
        extra_errors=(413,),
        tag="state",
    ),
    # executions
    Op(
        "GET",
        A + "/executions",
        "listExecutions",
        "The executions summary, totals and a page of executions.",
        REG,
        "READ",
        "ExecutionSummary",
        query=SEARCH,
        tag="executions",
    ),
    Op(
        "POST",
        A + "/executions",
        "addExecution",
        "Legacy: record an execution by hand.",
        REG,
        "UPDATE",
        "Actor",
        body="execution",
        tag="executions",
    ),
    Op("GET", EX, "getExecution", "One execution.", REG, "READ", "Execution", tag="executions"),
    Op(
        "DELETE",
        EX,
        "deleteExecution",
        "Force-quit a running execution.",
        REG,
        "UPDATE",
        extra_errors=(409,),
        tag="executions",
    ),
    Op(
        "GET",
        EX + "/results",
        "getExecutionResult",
        "Pop the oldest unconsumed result, raw (an empty body if none); `all=true` lists them all.",
        REG,
        "READ",
        "Results",
        query=("all", "limit", "skip"),
        produces="results",
        tag="executions",
    ),
    Op(
        "GET",
        EX + "/logs",
        "getExecutionLogs",
        "The execution's logs (so far, while it runs); `follow=true` streams them as text/plain.",
        REG,
        "READ",
        "Logs",
        query=("follow",),
        extra_errors=(429,),
        produces="text",
        tag="executions",
    ),
    # messages
    Op(
        "GET",
        A + "/messages",
        "getMessages",
        "The mailbox length; with `count`, the next pending messages too (not consumed).",
        MES,
        "READ",
        "Mailbox",
        query=("count",),
        tag="messages",
    ),
    Op(
        "POST",
        A + "/messages",
        "sendMessage",
        "Send a message (reference 1.5).",
        MES,
        "EXECUTE",
        "MessageAccepted",
        body="message",
        query=("_abaco_synchronous", "_abaco_sync_timeout", "_abaco_idempotency_key"),
        extra_errors=(409, 411, 413, 429, 504),
        produces="logs",
        tag="messages",
    ),
    Op(
        "DELETE",
        A + "/messages",
        "deleteMessages",
        "Purge the mailbox.",
        MES,
        "UPDATE",
        "MailboxPurged",
        tag="messages",
    ),
    # dead letters
    Op(
        "GET",
        A + "/dead_letters",
        "listDeadLetters",
        "The messages the actor's workers gave up on (newest first).",
        REG,
        "READ",
        "[DeadLetter]",
        query=PAGE,
        tag="dead_letters",
    ),
    Op(
        "GET",
        A + "/dead_letters/{execution_id}",
        "getDeadLetter",
        "One dead letter.",
        REG,
        "READ",
        "DeadLetter",
        tag="dead_letters",
    ),
    Op(
        "POST",
        A + "/dead_letters/{execution_id}",
        "resendDeadLetter",
        "Send a dead letter again as a new execution (named by `resent_as`).",
        REG,
        "EXECUTE",
        "DeadLetter",
        extra_errors=(409,),
        tag="dead_letters",
    ),
    Op(
        "DELETE",
        A + "/dead_letters/{execution_id}",
        "deleteDeadLetter",
        "Discard a dead letter.",
        REG,
        "UPDATE",
        tag="dead_letters",
    ),
    # nonces
    Op("GET", A + "/nonces", "listNonces", "The actor's nonces.", REG, "READ", "[Nonce]", query=PAGE, tag="nonces"),
    Op("POST", A + "/nonces", "createNonce", "Create a nonce.", REG, "UPDATE", "Nonce", body="nonce", tag="nonces"),
    Op("GET", A + "/nonces/{nonce_id}", "getNonce", "One nonce.", REG, "READ", "Nonce", tag="nonces"),
    Op("DELETE", A + "/nonces/{nonce_id}", "deleteNonce", "Delete a nonce.", REG, "UPDATE", tag="nonces"),
    # permissions
    Op(
        "GET",
        A + "/permissions",
        "listPermissions",
        "The actor's permissions.",
        ADM,
        "READ",
        "PermissionMap",
        tag="permissions",
    ),
    Op(
        "POST",
        A + "/permissions",
        "updatePermissions",
        "Grant a user a level (ABACO_WORLD: everyone).",
        ADM,
        "UPDATE",
        "PermissionMap",
        body="grant",
        tag="permissions",
    ),
    # workers
    Op(
        "GET", A + "/workers", "listWorkers", "The actor's workers.", ADM, "READ", "[Worker]", query=PAGE, tag="workers"
    ),
    Op(
        "POST",
        A + "/workers",
        "manageWorkerPoolSize",
        "Ensure at least `num` workers.",
        ADM,
        "admin",
        body="workers",
        extra_errors=(409,),
        tag="workers",
    ),
    Op("GET", A + "/workers/{worker_id}", "getWorker", "One worker.", ADM, "READ", "Worker", tag="workers"),
    Op(
        "DELETE",
        A + "/workers/{worker_id}",
        "deleteWorker",
        "Stop one worker gracefully.",
        ADM,
        "UPDATE",
        tag="workers",
    ),
    # aliases
    Op(
        "GET",
        "/actors/aliases",
        "listAliases",
        "The tenant's aliases.",
        REG,
        "any",
        "[Alias]",
        query=PAGE,
        tag="aliases",
    ),
    Op(
        "POST",
        "/actors/aliases",
        "createAlias",
        "Create an alias (UPDATE on the actor).",
        REG,
        "UPDATE on actor",
        "Alias",
        body="alias",
        extra_errors=(409,),
        tag="aliases",
    ),
    Op("GET", AL, "getActorAlias", "One alias.", REG, "READ", "Alias", tag="aliases"),
    Op(
        "PUT",
        AL,
        "updateActorAlias",
        "Point an alias at another actor.",
        REG,
        "UPDATE alias and actor",
        "Alias",
        body="alias_update",
        tag="aliases",
    ),
    Op("DELETE", AL, "deleteActorAlias", "Delete an alias.", REG, "UPDATE", tag="aliases"),
    Op(
        "GET",
        AL + "/nonces",
        "listAliasNonces",
        "The alias's nonces.",
        REG,
        "READ alias and actor",
        "[Nonce]",
        query=PAGE,
        tag="aliases",
    ),
    Op(
        "POST",
        AL + "/nonces",
        "createAliasNonce",
        "Create an alias nonce (NONE/READ/EXECUTE).",
        REG,
        "UPDATE alias and actor",
        "Nonce",
        body="nonce",
        tag="aliases",
    ),
    Op(
        "GET",
        AL + "/nonces/{nonce_id}",
        "getAliasNonce",
        "One alias nonce.",
        REG,
        "READ alias and actor",
        "Nonce",
        tag="aliases",
    ),
    Op(
        "DELETE",
        AL + "/nonces/{nonce_id}",
        "deleteAliasNonce",
        "Delete an alias nonce.",
        REG,
        "UPDATE alias and actor",
        tag="aliases",
    ),
    Op(
        "GET",
        AL + "/permissions",
        "listAliasPermissions",
        "The alias's permissions.",
        ADM,
        "READ",
        "PermissionMap",
        tag="aliases",
    ),
    Op(
        "POST",
        AL + "/permissions",
        "updateAliasPermissions",
        "Grant a user a level on the alias.",
        ADM,
        "UPDATE",
        "PermissionMap",
        body="grant",
        tag="aliases",
    ),
    # configs
    Op(
        "GET",
        "/actors/configs",
        "listConfigs",
        "The tenant's configs the caller can read.",
        REG,
        "any",
        "[Config]",
        query=PAGE,
        tag="configs",
    ),
    Op(
        "POST",
        "/actors/configs",
        "createConfig",
        "Create a config (UPDATE on each actor it names).",
        REG,
        "any",
        "Config",
        body="config",
        extra_errors=(409,),
        tag="configs",
    ),
    Op("GET", CF, "getConfig", "One config.", REG, "READ", "Config", tag="configs"),
    Op("PUT", CF, "updateConfig", "Update a config.", REG, "UPDATE", "Config", body="config_update", tag="configs"),
    Op("DELETE", CF, "deleteConfig", "Delete a config.", REG, "UPDATE", tag="configs"),
    Op(
        "GET",
        CF + "/permissions",
        "listConfigPermissions",
        "The config's permissions.",
        ADM,
        "READ",
        "PermissionMap",
        tag="configs",
    ),
    Op(
        "POST",
        CF + "/permissions",
        "updateConfigPermissions",
        "Grant a user a level on the config.",
        ADM,
        "UPDATE",
        "PermissionMap",
        body="grant",
        tag="configs",
    ),
    # search, utilization, admin views
    Op(
        "GET",
        "/actors/search/{search_type}",
        "searchDatabase",
        "Search (reference 1.6).",
        REG,
        "any",
        "SearchResult",
        query=SEARCH,
        tag="search",
    ),
    Op(
        "GET",
        "/actors/utilization",
        "getUtilization",
        "Actor and worker counts.",
        REG,
        "any",
        "Utilization",
        tag="admin",
    ),
    Op(
        "GET",
        "/actors/admin",
        "adminListActors",
        "Every actor with its workers and totals.",
        ADM,
        "admin",
        "[AdminActor]",
        query=PAGE,
        tag="admin",
    ),
    Op(
        "GET",
        "/actors/admin/workers",
        "adminListWorkers",
        "Every worker, with a summary.",
        ADM,
        "admin",
        "AdminWorkers",
        query=PAGE,
        tag="admin",
    ),
    Op(
        "GET",
        "/actors/admin/executions",
        "adminListExecutions",
        "Execution totals per actor.",
        ADM,
        "admin",
        "AdminExecutions",
        tag="admin",
    ),
    Op("GET", "/admin/dashboard", "getDashboard", "The HTML dashboard.", ADM, "admin", produces="html", tag="admin"),
    Op(
        "POST",
        "/admin/dashboard",
        "postDashboard",
        "The HTML dashboard (form actions).",
        ADM,
        "admin",
        produces="html",
        tag="admin",
    ),
    Op(
        "GET",
        "/metrics",
        "getMetrics",
        "Prometheus metrics: mailboxes, workers, executions, execution-time histograms, autoscaler decisions.",
        ADM,
        "admin (none from this host with metrics.access = loopback)",
        produces="prometheus",
        tag="admin",
    ),
    # this document
    Op(
        "GET",
        "/docs",
        "getDocsPage",
        "This document as an HTML page.",
        REG,
        "none",
        produces="html",
        auth=False,
        tag="docs",
    ),
    Op(
        "GET",
        "/docs/openapi.json",
        "getOpenApi",
        "This document.",
        REG,
        "none",
        produces="openapi",
        auth=False,
        tag="docs",
    ),
)

SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Authorization: Bearer"},
    "tapisToken": {"type": "apiKey", "in": "header", "name": "X-Tapis-Token", "description": "v3 clients"},
    "jwtAssertion": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Jwt-Assertion-TENANT",
        "description": "v2 (WSO2 APIM) assertion: the header's suffix is the tenant, e.g. X-Jwt-Assertion-DEV-DEVELOP.",
    },
    "nonce": {"type": "apiKey", "in": "query", "name": "x-nonce", "description": "A nonce id, without a token."},
}

DESCRIPTION = """Abaco: actors (Docker images) run once per message. Every JSON answer is the envelope
`{status, message, result, version}`; errors have `status: "error"` and `result: null`. Every path
also answers under the v2 gateway prefix `/actors/v2/...` and the v3 prefix `/v3/actors/...`.
With `case = camel`, response keys and request fields are camelCase."""
