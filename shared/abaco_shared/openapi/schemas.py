"""The OpenAPI document's building blocks: component schemas, request bodies and parameters."""

from __future__ import annotations

from typing import Any

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
    "cron_schedule": {
        **_nullable(STR),
        "description": "'<now|YYYY-MM-DD HH|YYYY-MM-DD HH:MM> + <n> <minute|hour|day|week|month>[s]' (UTC); "
        "the start may not be past; null or '' clears it",
    },
    "cron_on": {"type": "boolean", "default": False, "description": "Set to true when a schedule is set."},
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
    "cron_next_ex": {**_nullable(STR), "description": "The next cron slot, 'Y-M-D H' (':MM' unless on the hour)."},
    "cron_next_ex_time": TIME,
    "cron_missed": {**INT, "description": "Cron slots that did not run while cron_on was true."},
    "webhook_secret": {
        **STR,
        "description": "Key of the X-Abaco-Signature HMAC of this actor's webhook POSTs; shown to users with "
        "UPDATE on an actor that has a webhook.",
    },
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
DEAD_LETTER: Schema = {"type": "string", "enum": ["HELD", "RESENT", "DISCARDED"], "nullable": True}
PENDING_FIELDS: dict[str, Schema] = {
    "execution_id": STR,
    "message": {"description": "the message ({binary_size: <bytes>} for binary)"},
    "content_type": STR,
    "params": {"type": "object", "additionalProperties": STR},
    "executor": STR,
    "message_received_time": TIME,
    "attempts": INT,
}
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
        dead_letter=DEAD_LETTER,
        resent_as=_nullable(STR),
        _links=LINKS,
    ),
    "Logs": _obj(logs=STR, _links=LINKS),
    "Results": _obj(
        ("execution_id", "total", "results"),
        execution_id=STR,
        total={**INT, "description": "How many results the execution has kept."},
        results={"type": "array", "items": _ref("Result")},
        _links=LINKS,
    ),
    "Result": _obj(
        ("index", "size", "consumed", "data"),
        index={**INT, "description": "Its place in the order the results were sent, from 0."},
        size={**INT, "description": "Bytes (at most 131072)."},
        consumed={**BOOL, "description": "Already popped by a GET without `all`, or a synchronous call."},
        data={"type": "string", "format": "byte", "description": "The datagram, base64."},
    ),
    "MessageAccepted": _obj(execution_id=STR, msg=ANY, _links=LINKS),
    "Mailbox": _obj(
        messages=INT,
        pending={"type": "array", "items": _ref("PendingMessage"), "description": "with `count` only"},
        _links=LINKS,
    ),
    "PendingMessage": _obj(**PENDING_FIELDS),
    "DeadLetter": _obj(
        **PENDING_FIELDS,
        actor_id=STR,
        dead_letter=DEAD_LETTER,
        resent_as=_nullable(STR),
        status_message=STR,
        finish_time=TIME,
        _links=LINKS,
    ),
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
        "description": "Wait and answer with the first result, else the logs, as the raw body (504 after a timeout).",
    },
    "_abaco_sync_timeout": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
    "_abaco_idempotency_key": {"type": "string", "pattern": "^[A-Za-z0-9._:+/=-]{1,255}$"},
    "all": FLAG,
    "count": {"type": "integer", "minimum": 1, "maximum": 100},
    "follow": FLAG,
}
QUERY_DOC = {
    "limit": "At most this many items.",
    "skip": "Skip this many items first.",
    "search": "Words to search for (reference 1.6); other `field=value` / `field.<op>=value` parameters filter.",
    "exactsearch": "An exact phrase to search for.",
    "_abaco_synchronous": "Synchronous call. Every other query parameter becomes an environment variable.",
    "_abaco_sync_timeout": "Seconds this synchronous call waits, at most the server's `http.sync_timeout` "
    "(its default); not given to the container.",
    "_abaco_idempotency_key": "An idempotency key, as this parameter or the `Idempotency-Key` header: a repeat "
    "with the same key (same actor and sender) within `http.idempotency_window` (24 h) answers the first "
    "execution instead of running the message again; the same key with another message is a 409. Not given "
    "to the container.",
    "all": "List every result (JSON, base64 data, paged with `limit`/`skip`) without consuming any.",
    "count": "Also list the next `count` pending messages (1-100), read from their executions, not consumed.",
    "follow": "Stream the output (text/plain, chunked) as it grows, until the execution ends.",
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
    411: "A binary message without a Content-Length header.",
    413: "The request body is too large.",
    414: "The request URI is too long.",
    429: "Too many concurrent synchronous calls or log follows.",
    503: "A store or the broker is unavailable.",
    504: "A synchronous execution did not finish in time, or an upstream timed out.",
}
COMMON_ERRORS = (400, 401, 403, 404, 405, 503)
