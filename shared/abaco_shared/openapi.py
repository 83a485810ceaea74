"""The OpenAPI 3.0 document of the three APIs (reference 1.2), built from declarative specs.

Every endpoint is one :class:`Op` in :data:`OPERATIONS` (method, path, app, permission, query
parameters, request body and result schema by name); :func:`build_document` turns them into the
document, wrapping each result in the ``{status, message, result, version}`` envelope and adding
the error envelope for each error status an operation can answer. The document is the contract:
it describes the reference's endpoints whether or not a route serves them yet, and a unit test
checks that every route of every app is described here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Op", "OPERATIONS", "build_document", "described_operations", "ERROR_MESSAGES"]

Schema = dict[str, Any]

# --- schemas ------------------------------------------------------------------------------------


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: tuple[str, ...] = (), /, **props: Schema) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
TIME: Schema = {"type": "string", "format": "date-time", "nullable": True}
LEVEL: Schema = {"type": "string", "enum": ["NONE", "READ", "EXECUTE", "UPDATE"]}
# booleans of form bodies and query strings: true/false/1/0 (reference 1.1)
FLAG: Schema = {"type": "string", "enum": ["true", "false", "1", "0"]}
LINKS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}

ACTOR_FIELDS: dict[str, Schema] = {
    "image": {"type": "string", "minLength": 1, "maxLength": 255, "description": "Docker image reference."},
    "name": _nullable(STR),
    "description": STR,
    "stateless": {"type": "boolean", "default": True},
    "type": {"type": "string", "enum": ["none", "bin", "json"], "default": "none"},
    "default_environment": {
        "type": "object",
        "additionalProperties": {"oneOf": [STR, NUM, BOOL]},
        "description": "Environment variables of every execution (JSON bodies only).",
    },
    "privileged": {"type": "boolean", "default": False, "description": "privileged/admin only"},
    "max_workers": {**_nullable(INT), "minimum": 0, "description": "privileged/admin only; 1 for stateful actors"},
    "min_workers": {**_nullable(INT), "minimum": 0},
    "mem_limit": {**_nullable(STR), "pattern": "^[0-9]+[bkmgBKMG]?$", "description": "privileged/admin only"},
    "max_cpus": {**_nullable(INT), "minimum": 0, "description": "privileged/admin only (nano-CPUs)"},
    "use_container_uid": {"type": "boolean", "default": False, "description": "privileged/admin only"},
    "queue": {"type": "string", "default": "default", "description": "privileged/admin only"},
    "token": {"type": "boolean", "description": "Inject an access token into each execution."},
    "link": {"type": "string", "default": "", "description": "Actor id or alias to send events to."},
    "webhook": {"type": "string", "default": ""},
    "hints": {"type": "array", "items": STR},
    "log_ex": {**_nullable(INT), "minimum": 0, "description": "Log time to live in seconds."},
    "cron_schedule": {**_nullable(STR), "description": "'YYYY-MM-DD HH + <n> <unit>'"},
    "cron_on": {"type": "boolean", "default": False},
    "run_as_executor": {"type": "boolean", "default": False},
    "max_run_time": {**_nullable(INT), "minimum": 0, "description": "Seconds an execution may run."},
}
ACTOR_OUTPUT: dict[str, Schema] = {
    "id": STR,
    "owner": STR,
    "revision": INT,
    "status": {"type": "string", "enum": ["SUBMITTED", "READY", "ERROR", "SHUTTING_DOWN"]},
    "status_message": _nullable(STR),
    "state": ANY,
    "mounts": {"type": "array", "items": {"type": "object"}},
    "create_time": TIME,
    "last_update_time": TIME,
    "cron_next_ex": TIME,
    "_links": LINKS,
}
WORKER_STATUSES = [
    "REQUESTED",
    "SPAWNER SETUP",
    "PULLING IMAGE",
    "CREATING CONTAINER",
    "UPDATING STORE",
    "READY",
    "BUSY",
    "SHUTDOWN_REQUESTED",
    "SHUTTING_DOWN",
    "ERROR",
]
EXECUTION_STATUS: Schema = {"type": "string", "enum": ["SUBMITTED", "RUNNING", "COMPLETE", "ERROR"]}
_FIELD_RULES = "Unknown fields are refused (400); camelCase names (maxWorkers...) are accepted too."
_NAME_RULE = "letters, digits and . _ - (not an actor id; not a reserved word)"
NONCE_LINKS = {"_links": LINKS}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(
        ("status", "message", "result", "version"),
        status={"type": "string", "enum": ["error"]},
        message=STR,
        result={"nullable": True, "description": "always null"},
        version=STR,
    ),
    "Actor": _obj(**ACTOR_FIELDS, **ACTOR_OUTPUT),
    "ActorInput": {**_obj(("image",), **ACTOR_FIELDS), "description": _FIELD_RULES},
    "ActorUpdate": {
        **_obj(**ACTOR_FIELDS, force={"type": "boolean", "description": "new revision and workers"}),
        "description": "Fields left out keep their value. " + _FIELD_RULES,
    },
    "ActorForm": {
        **_obj(
            ("image",),
            **{
                k: (FLAG if v.get("type") == "boolean" else v)
                for k, v in ACTOR_FIELDS.items()
                if k != "default_environment"
            },
        ),
        "description": _FIELD_RULES,
    },
    "State": _obj(state=ANY),
    "ExecutionSummaryItem": _obj(
        id=STR, status=EXECUTION_STATUS, message_received_time=TIME, start_time=TIME, finish_time=TIME
    ),
    "ExecutionSummary": _obj(
        actor_id=STR,
        api_server=STR,
        owner=STR,
        total_executions=INT,
        total_cpu=INT,
        total_io=INT,
        total_runtime=INT,
        executions={"type": "array", "items": _ref("ExecutionSummaryItem")},
        ids={"type": "array", "items": STR},
        _links=LINKS,
    ),
    "ExecutionInput": _obj(("runtime", "cpu", "io"), runtime=INT, cpu=INT, io=INT),
    "Execution": _obj(
        id=STR,
        actor_id=STR,
        api_server=STR,
        owner=STR,
        executor=STR,
        worker_id=_nullable(STR),
        status=EXECUTION_STATUS,
        outcome=_nullable(STR),
        status_message=_nullable(STR),
        message_received_time=TIME,
        start_time=TIME,
        finish_time=TIME,
        runtime=_nullable(INT),
        cpu=_nullable(INT),
        io=_nullable(INT),
        exit_code=_nullable(INT),
        final_state={"type": "object", "nullable": True},
        _links=LINKS,
    ),
    "Logs": _obj(logs=STR, _links=LINKS),
    "MessageAccepted": _obj(execution_id=STR, msg=ANY, _links=LINKS),
    "Mailbox": _obj(messages=INT, _links=LINKS),
    "MailboxPurged": _obj(msg=STR, _links=LINKS),
    "Worker": _obj(
        id=STR,
        tenant=STR,
        actor_id=STR,
        status={"type": "string", "enum": WORKER_STATUSES},
        ch_name=STR,
        image=STR,
        location=_nullable(STR),
        cid=_nullable(STR),
        host_id=_nullable(STR),
        host_ip=_nullable(STR),
        create_time=TIME,
        last_execution_time=TIME,
        last_health_check_time=TIME,
    ),
    "WorkersRequest": _obj(num={"type": "integer", "minimum": 1, "default": 1}),
    "PermissionMap": {"type": "object", "additionalProperties": LEVEL, "description": "{user: level}"},
    "PermissionGrant": _obj(("user", "level"), user={"type": "string", "minLength": 1}, level=LEVEL),
    "Alias": _obj(alias=STR, actor_id=STR, owner=STR, _links=LINKS),
    "AliasInput": _obj(
        ("alias", "actor_id"), alias={"type": "string", "minLength": 1, "description": _NAME_RULE}, actor_id=STR
    ),
    "AliasUpdate": _obj(("actor_id",), actor_id=STR),
    "Nonce": _obj(
        id=STR,
        owner=STR,
        roles={"type": "array", "items": STR},
        api_server=STR,
        actor_id=STR,
        alias=STR,
        create_time=TIME,
        last_use_time=TIME,
        current_uses=INT,
        remaining_uses=INT,
        level=LEVEL,
        max_uses=INT,
        description=STR,
        **NONCE_LINKS,
    ),
    "NonceInput": _obj(
        level={**LEVEL, "default": "EXECUTE"},
        max_uses={"type": "integer", "default": -1, "description": "-1 = unlimited; 0 and below -1 refused"},
        description=STR,
    ),
    "Config": _obj(name=STR, value=ANY, is_secret=BOOL, actors=STR, owner=STR, _links=LINKS),
    "ConfigInput": _obj(
        ("name", "value", "is_secret", "actors"),
        name={"type": "string", "minLength": 1, "description": _NAME_RULE},
        value=ANY,
        is_secret=BOOL,
        actors={"type": "string", "description": "comma-separated actor ids and aliases (UPDATE on each)"},
    ),
    "ConfigUpdate": _obj(value=ANY, is_secret=BOOL, actors=STR),
    "SearchResult": _obj(
        _metadata=_obj(total_count=INT, records_skipped=INT, record_limit=INT, count_returned=INT),
        search={"type": "array", "items": {"type": "object"}},
    ),
    "Utilization": _obj(currentActors=INT, totalActors=INT, workers=INT, commandQueue=INT),
    "AdminActor": {
        "allOf": [
            _ref("Actor"),
            _obj(workers={"type": "array", "items": _ref("Worker")}, messages=INT, executions=INT, runtime=INT),
        ]
    },
    "AdminWorkers": _obj(
        summary=_obj(
            total_workers=INT,
            ready_workers=INT,
            requested_workers=INT,
            error_workers=INT,
            busy_workers=INT,
            actors_no_workers=INT,
        ),
        workers={"type": "array", "items": _ref("Worker")},
    ),
    "AdminExecutions": {"type": "object", "description": "cpu/io/runtime/executions totals, all and existing actors"},
}

# --- request bodies -------------------------------------------------------------------------------

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


def _json_and_form(name: str, form: str | None = None) -> dict[str, Schema]:
    return {_JSON: {"schema": _ref(name)}, _FORM: {"schema": _ref(form or name)}}


BODIES: dict[str, dict[str, Any]] = {
    "actor": {"required": True, "content": _json_and_form("ActorInput", "ActorForm")},
    "actor_update": {"required": True, "content": {_JSON: {"schema": _ref("ActorUpdate")}}},
    "state": {"required": True, "content": {_JSON: {"schema": {"description": "any JSON value"}}}},
    "execution": {"required": True, "content": _json_and_form("ExecutionInput")},
    "message": {
        "required": True,
        "description": "(1) a form field `message`; (2) raw bytes; (3) any JSON value; (4) a JSON text.",
        "content": {
            _FORM: {"schema": _obj(("message",), message=STR)},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            _JSON: {"schema": {"description": "any JSON value"}},
            "text/plain": {"schema": STR},
        },
    },
    "grant": {"required": True, "content": _json_and_form("PermissionGrant")},
    "workers": {"required": False, "content": _json_and_form("WorkersRequest")},
    "alias": {"required": True, "content": _json_and_form("AliasInput")},
    "alias_update": {"required": True, "content": _json_and_form("AliasUpdate")},
    "nonce": {"required": False, "content": _json_and_form("NonceInput")},
    "config": {"required": True, "content": {_JSON: {"schema": _ref("ConfigInput")}}},
    "config_update": {"required": True, "content": {_JSON: {"schema": _ref("ConfigUpdate")}}},
}

# --- parameters -----------------------------------------------------------------------------------

PATH_PARAMS: dict[str, str] = {
    "actor_id": "An actor id or one of its aliases.",
    "execution_id": "An execution id.",
    "worker_id": "A worker id.",
    "nonce_id": "A nonce id.",
    "alias": "An alias name.",
    "config_name": "A config name.",
    "search_type": "What to search.",
}
PATH_SCHEMAS: dict[str, Schema] = {
    "search_type": {"type": "string", "enum": ["actors", "workers", "executions", "logs"]}
}
QUERY: dict[str, Schema] = {
    "limit": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
    "skip": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
    "search": STR,
    "exactsearch": STR,
    "_abaco_synchronous": {
        **FLAG,
        "description": "Wait for the execution and answer with its logs as the raw body (504 after a timeout).",
    },
}
QUERY_DOC = {
    "limit": "At most this many items.",
    "skip": "Skip this many items first.",
    "search": "Words to search for (reference 1.6); other `field=value` / `field.<op>=value` parameters filter.",
    "exactsearch": "An exact phrase to search for.",
    "_abaco_synchronous": "Synchronous call. Every other query parameter becomes an environment variable.",
}
PAGE = ("limit", "skip")
SEARCH = ("search", "exactsearch", "limit", "skip")

ERROR_MESSAGES: dict[int, str] = {
    400: "Invalid input (the message names the field and the rule).",
    401: "No valid credentials.",
    403: "Not authorized: a missing role or permission.",
    404: "No such object, or one the caller may not see.",
    405: "Invalid HTTP method on requested resource.",
    409: "The object's state does not allow this (for example: being deleted, or a name already taken).",
    413: "The request body is too large.",
    414: "The request URI is too long.",
    429: "Too many concurrent synchronous calls.",
    503: "A store or the broker is unavailable.",
    504: "A synchronous execution did not finish in time, or an upstream timed out.",
}
COMMON_ERRORS = (400, 401, 403, 404, 405, 503)

# --- operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One endpoint. ``result`` names a schema (``[Name]`` for a list, None for a null result);
    ``produces`` is ``json`` (the envelope), ``octet``, ``logs`` (a sync call) or ``html``."""

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
        "Pop one binary result (empty if none).",
        REG,
        "READ",
        produces="octet",
        tag="executions",
    ),
    Op("GET", EX + "/logs", "getExecutionLogs", "The execution's logs.", REG, "READ", "Logs", tag="executions"),
    # messages
    Op("GET", A + "/messages", "getMessages", "The mailbox length.", MES, "READ", "Mailbox", tag="messages"),
    Op(
        "POST",
        A + "/messages",
        "sendMessage",
        "Send a message (reference 1.5).",
        MES,
        "EXECUTE",
        "MessageAccepted",
        body="message",
        query=("_abaco_synchronous",),
        extra_errors=(413, 429, 504),
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

# --- building -------------------------------------------------------------------------------------


def _result_schema(name: str | None) -> Schema:
    if name is None:
        return {"nullable": True}
    if name.startswith("["):
        return {"type": "array", "items": _ref(name.strip("[]"))}
    return _ref(name)


def _envelope(result: Schema) -> Schema:
    return _obj(
        ("status", "message", "result", "version"),
        status={"type": "string", "enum": ["success"]},
        message=STR,
        result=result,
        version=STR,
    )


def _success(op: Op) -> dict[str, Any]:
    result = _result_schema(op.result)
    if "search" in op.query and op.result != "SearchResult":  # other parameters switch to a search
        result = {"oneOf": [result, _ref("SearchResult")]}
    envelope = {_JSON: {"schema": _envelope(result)}}
    if op.produces == "octet":
        return {
            "description": "The result's raw bytes (empty if none).",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    if op.produces == "html":
        return {"description": "An HTML page.", "content": {"text/html": {"schema": STR}}}
    if op.produces == "openapi":
        return {"description": "The OpenAPI document.", "content": {_JSON: {"schema": {"type": "object"}}}}
    if op.produces == "logs":
        return {
            "description": "The envelope; with `_abaco_synchronous=true`, the execution's logs as the raw body.",
            "content": {**envelope, "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    if op.result and op.result.startswith("[") and "limit" in op.query:
        total = {"description": "How many items there are in all.", "schema": INT}
        return {"description": "Success: one page.", "headers": {"X-Total-Count": total}, "content": envelope}
    return {"description": "Success.", "content": envelope}


def _operation(op: Op) -> dict[str, Any]:
    params: list[Schema] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMS[name],
            "schema": PATH_SCHEMAS.get(name, {"type": "string", "minLength": 1}),
        }
        for name in op.path_params
    ]
    params += [
        {"name": name, "in": "query", "required": False, "description": QUERY_DOC[name], "schema": QUERY[name]}
        for name in op.query
    ]
    errors = sorted(set(op.extra_errors) | (set(COMMON_ERRORS) if op.auth else {404, 405}))
    if op.body:
        errors = sorted(set(errors) | {413})
    responses: dict[str, Any] = {"200": _success(op)}
    for code in errors:
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": f"Served by the {op.app} API. Permission: {op.permission}.",
        "tags": [op.tag],
        "responses": responses,
    }
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = BODIES[op.body]
    if not op.auth:
        out["security"] = []
    return out


def build_document(version: str = "1.0.0", operations: tuple[Op, ...] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Abaco", "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in operations)],
        "security": [{name: []} for name in SECURITY_SCHEMES],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": SECURITY_SCHEMES,
            "responses": {
                f"E{code}": {"description": text, "content": {_JSON: {"schema": _ref("Error")}}}
                for code, text in ERROR_MESSAGES.items()
            },
        },
    }


def described_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every operation of a document, with each ``{param}`` written ``{}``."""
    return {
        (method.upper(), re.sub(r"{[^}]+}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }
