"""The search grammar of reference 1.6, parsed into a MongoDB filter (this module builds filters only).

Parameters of ``GET /actors/search/{type}`` (and of the list endpoints given extra parameters):

    search=<words>            any word, case-insensitive, in one of the type's text fields
    exactsearch=<phrase>      the phrase, case-insensitive, in one of the type's text fields
    skip=<n>, limit=<n>       paging (http.page_params: limit 0-1000, default 100)
    <field>=<value>           equality, the value coerced to the field's type
    <field>.<op>=<value>      op: eq neq lt lte gt gte in nin like nlike between
    <field>.<key>...[.<op>]   a key inside an object field (``default_environment.FOO=bar``)

Safety: a field name is looked up in an allow-list per type and mapped to its stored name, so a
parameter name never reaches MongoDB (``name[$ne]`` is an unknown field: a 400 naming it); every
value is coerced to a scalar (or a list of scalars) and placed under an operator chosen here, so
``{"$ne": null}`` is only ever a string. Regexes (``like``) are bounded and must compile; the query
itself runs with a time limit (see ``paging``). Every filter is ANDed with the caller's tenant and,
for non-admins, the actors the caller may READ.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import permissions
from .auth import Principal
from .errors import NotFound, ValidationError
from .http import page_params

__all__ = [
    "OPERATORS",
    "TYPES",
    "Field",
    "SearchType",
    "SearchQuery",
    "IGNORED",
    "search_type",
    "is_search",
    "parse",
    "security_filter",
    "coerce",
]

OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in", "nin", "like", "nlike", "between")
IGNORED = frozenset({"x-nonce"})  # credentials, never search terms
PAGING = ("limit", "skip")
MAX_PARAMS = 50
MAX_VALUE = 4096
MAX_REGEX = 256
MAX_LIST = 100
MAX_WORDS = 20
MAX_DEPTH = 5
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INT = re.compile(r"[+-]?\d{1,19}")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d{1,3})?")
_TRUE, _FALSE, _NONE = ("true", "1", "yes"), ("false", "0", "no"), ("none", "null")

# field kinds
STR, INT, BOOL, TIME, LIST, DICT, ANY, ACTOR_KEY = "str", "int", "bool", "time", "list", "dict", "any", "actor_key"
STR_DICT = "str_dict"  # an object whose values are all strings (environments, query parameters)


@dataclass(frozen=True)
class Field:
    stored: str  # the stored (MongoDB) field name
    kind: str = STR


@dataclass(frozen=True)
class SearchType:
    name: str
    fields: dict[str, Field]
    text: tuple[str, ...]  # stored fields that ``search``/``exactsearch`` look into
    actor_field: str  # stored field holding the actor's key (for permissions and scoping)
    order: tuple[str, ...]  # mongoengine order_by: newest first, then by key (stable)


def _fields(**kinds: str | tuple[str, str]) -> dict[str, Field]:
    """``name=kind`` (stored under the same name) or ``name=(stored, kind)``."""
    return {name: Field(*spec) if isinstance(spec, tuple) else Field(name, spec) for name, spec in kinds.items()}


TYPES: dict[str, SearchType] = {
    "actors": SearchType(
        "actors",
        _fields(
            id=("actor_id", STR),
            name=STR,
            description=STR,
            owner=STR,
            image=STR,
            revision=INT,
            status=STR,
            status_message=STR,
            stateless=BOOL,
            type=STR,
            default_environment=STR_DICT,
            privileged=BOOL,
            max_workers=INT,
            min_workers=INT,
            mem_limit=STR,
            max_cpus=INT,
            use_container_uid=BOOL,
            queue=STR,
            token=BOOL,
            link=STR,
            webhook=STR,
            hints=LIST,
            log_ex=INT,
            cron_schedule=STR,
            cron_on=BOOL,
            cron_next_ex=STR,
            cron_next_ex_time=("cron_next_time", TIME),
            cron_missed=INT,
            run_as_executor=BOOL,
            max_run_time=INT,
            state=DICT,
            create_time=TIME,
            last_update_time=TIME,
        ),
        text=("actor_id", "name", "description", "owner", "image", "status"),
        actor_field="_id",
        order=("-create_time", "-db_id"),
    ),
    "workers": SearchType(
        "workers",
        _fields(
            id=("worker_id", STR),
            tenant=STR,
            actor_id=("actor_dbid", ACTOR_KEY),
            status=STR,
            status_message=STR,
            ch_name=STR,
            image=STR,
            revision=INT,
            location=STR,
            cid=STR,
            pid=INT,
            host_id=STR,
            host_ip=STR,
            create_time=TIME,
            last_execution_time=TIME,
            last_health_check_time=TIME,
        ),
        text=("worker_id", "status", "image", "host_id", "ch_name"),
        actor_field="actor_dbid",
        order=("-create_time", "-db_id"),
    ),
    "executions": SearchType(
        "executions",
        _fields(
            id=("execution_id", STR),
            actor_id=("actor_dbid", ACTOR_KEY),
            executor=STR,
            worker_id=STR,
            status=STR,
            outcome=STR,
            status_message=STR,
            message_received_time=TIME,
            start_time=TIME,
            finish_time=TIME,
            runtime=INT,
            cpu=INT,
            io=INT,
            exit_code=INT,
            final_state=DICT,
            content_type=STR,
            message=ANY,
            params=STR_DICT,
            attempts=INT,
            limits=DICT,
            dead_letter=STR,
            resent_as=STR,
        ),
        text=("execution_id", "executor", "status", "status_message", "worker_id"),
        actor_field="actor_dbid",
        order=("-message_received_time", "-db_id"),
    ),
    "logs": SearchType(
        "logs",
        _fields(
            id=("execution_id", STR),
            execution_id=STR,
            actor_id=("actor_dbid", ACTOR_KEY),
            logs=STR,
            exp=TIME,
        ),
        text=("logs", "execution_id"),
        actor_field="actor_dbid",
        order=("-db_id",),
    ),
}


@dataclass(frozen=True)
class SearchQuery:
    type: SearchType
    filter: dict[str, Any]
    limit: int
    skip: int


def search_type(name: str) -> SearchType:
    """The search type ``name``; NotFound for anything else."""
    found = TYPES.get(name)
    if found is None:
        raise NotFound(f"Unknown search type: {name[:64]!r}; use one of {', '.join(TYPES)}.")
    return found


def is_search(params: Iterable[tuple[str, str]], list_params: Iterable[str] = PAGING) -> bool:
    """True when a list endpoint's query holds more than its own parameters (reference 1.2:
    other parameters switch it to search mode)."""
    allowed = IGNORED | set(list_params)
    return any(name not in allowed for name, _ in params)


def _bad(param: str, why: str) -> ValidationError:
    return ValidationError(f"Invalid search parameter {param[:100]!r}: {why}")


def _parse_time(text: str, param: str) -> dt.datetime:
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(param, f"{text[:64]!r} is not an ISO-8601 date or time.") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _number(text: str) -> int | float | None:
    if _INT.fullmatch(text):
        value = int(text)
        return value if -(2**63) <= value < 2**63 else None
    if _FLOAT.fullmatch(text):
        number = float(text)
        return number if number not in (float("inf"), float("-inf")) else None
    return None


def coerce(kind: str, text: str, param: str) -> Any:
    """One value for a field of ``kind`` (reference 1.6: true/false/none, numbers, ISO-8601 times;
    JSON lists are handled by the caller). Never returns a dict."""
    lowered = text.strip().lower()
    if lowered in _NONE:
        return None
    if kind in (STR, LIST, ACTOR_KEY):
        return text
    if kind == BOOL:
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _bad(param, "expected true or false.")
    if kind == INT:
        number = _number(text.strip())
        if number is None:
            raise _bad(param, f"{text[:64]!r} is not a number.")
        return number
    if kind == TIME:
        return _parse_time(text, param)
    # ANY: a nested key or an untyped field
    if lowered in ("true", "false"):
        return lowered == "true"
    number = _number(text.strip())
    return text if number is None else number


def _values(kind: str, text: str, param: str) -> list[Any]:
    """A list value (``in``/``nin``): a JSON list of scalars, or comma-separated values."""
    if text.strip().startswith("["):
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            raise _bad(param, "expected a JSON list of values or comma-separated values.") from None
        if not isinstance(items, list) or any(isinstance(i, dict | list) for i in items):
            raise _bad(param, "expected a JSON list of plain values (strings, numbers, true/false/null).")
        texts = ["none" if i is None else str(i).lower() if isinstance(i, bool) else str(i) for i in items]
    else:
        texts = text.split(",")
    if len(texts) > MAX_LIST:
        raise _bad(param, f"at most {MAX_LIST} values.")
    return [coerce(kind, t, param) for t in texts]


def _regex(kind: str, text: str, param: str, tenant: str) -> str:
    if kind not in (STR, LIST, ANY, ACTOR_KEY):
        raise _bad(param, "like and nlike apply to text fields only.")
    if len(text) > MAX_REGEX or "\x00" in text:
        raise _bad(param, f"a regular expression of at most {MAX_REGEX} characters (no NUL).")
    try:
        re.compile(text)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise _bad(param, f"not a valid regular expression ({exc}).") from None
    if kind == ACTOR_KEY and text.startswith("^"):  # actor keys are stored as <tenant>_<id>
        return f"^{re.escape(tenant)}_" + text[1:]
    return text


def _with_key(kind: str, value: Any, tenant: str) -> Any:
    """An actor id as stored in the records that point at an actor (``<tenant>_<id>``)."""
    if kind == ACTOR_KEY and isinstance(value, str):
        return f"{tenant}_{value}"
    return value


def _resolve(spec: SearchType, param: str) -> tuple[str, Field, str]:
    """``(stored name, field, operator)`` of a parameter name such as ``status``,
    ``runtime.gt`` or ``default_environment.FOO.like``."""
    parts = param.split(".")
    op = "eq"
    if len(parts) > 1 and parts[-1] in OPERATORS:
        op = parts.pop()
    field = spec.fields.get(parts[0])
    if field is None:
        raise _bad(param, f"unknown field {parts[0][:64]!r} for {spec.name}; searchable: {', '.join(spec.fields)}.")
    keys = parts[1:]
    if not keys:
        return field.stored, field, op
    if field.kind not in (DICT, STR_DICT):
        raise _bad(param, f"{parts[0]!r} has no keys inside (only object fields do).")
    if len(keys) > MAX_DEPTH or not all(_KEY.fullmatch(k) for k in keys):
        raise _bad(param, f"keys inside {parts[0]!r} are 1-64 letters, digits, '_' or '-', at most {MAX_DEPTH} deep.")
    return ".".join([field.stored, *keys]), Field(field.stored, STR if field.kind == STR_DICT else ANY), op


def _clause(spec: SearchType, param: str, text: str, tenant: str) -> dict[str, Any]:
    stored, field, op = _resolve(spec, param)
    kind = field.kind
    if op in ("in", "nin"):
        values = [_with_key(kind, v, tenant) for v in _values(kind, text, param)]
        return {stored: {"$in" if op == "in" else "$nin": values}}
    if op in ("like", "nlike"):
        pattern = _regex(kind, text, param, tenant)
        return {stored: {"$regex": pattern} if op == "like" else {"$not": {"$regex": pattern}}}
    if op == "between":
        bounds = text.split(",")
        if len(bounds) != 2:
            raise _bad(param, "between takes two values: low,high.")
        low, high = (_with_key(kind, coerce(kind, b, param), tenant) for b in bounds)
        if low is None or high is None or kind == BOOL:
            raise _bad(param, "between takes two numbers or two ISO-8601 times.")
        return {stored: {"$gte": low, "$lte": high}}
    if kind in (DICT, STR_DICT):
        raise _bad(param, "an object field is searched by its keys (e.g. field.KEY=value).")
    value = _with_key(kind, coerce(kind, text, param), tenant)
    if op in ("eq", "neq"):
        return {stored: {"$eq" if op == "eq" else "$ne": value}}
    if value is None or kind == BOOL:
        raise _bad(param, f"{op} needs a number, a time or a text value.")
    return {stored: {f"${op}": value}}


def _text(spec: SearchType, phrases: list[str]) -> dict[str, Any]:
    return {"$or": [{f: {"$regex": re.escape(p), "$options": "i"}} for f in spec.text for p in phrases]}


def security_filter(spec: SearchType, who: Principal) -> dict[str, Any]:
    """The caller's tenant and, unless an admin, the actors the caller may READ (a caller
    authorised by a nonce: the nonce's actor at most, admin or not)."""
    clause: dict[str, Any] = {"tenant": who.tenant}
    if not who.is_admin or who.scope is not None:
        clause[spec.actor_field] = {"$in": sorted(permissions.readable_objects(who))}
    return clause


def parse(
    spec: SearchType,
    params: Iterable[tuple[str, str]],
    who: Principal,
    *,
    scope: dict[str, str] | None = None,
    default_limit: int = 100,
) -> SearchQuery:
    """The query of these parameters, for this caller. ``scope`` (stored field -> value) narrows it
    further, e.g. to one actor's executions."""
    items = [(k, v) for k, v in params if k not in IGNORED]
    if len(items) > MAX_PARAMS:
        raise ValidationError(f"Too many search parameters: at most {MAX_PARAMS}.")
    clauses: list[dict[str, Any]] = [security_filter(spec, who)]
    clauses += [{k: {"$eq": v}} for k, v in (scope or {}).items()]
    paging: dict[str, str] = {}
    for name, value in items:
        if "\x00" in name or "\x00" in value:
            raise _bad(name.replace("\x00", "\\0"), "NUL characters are not allowed.")
        if len(value) > MAX_VALUE:
            raise _bad(name, f"values are at most {MAX_VALUE} characters.")
        if name in PAGING:
            paging[name] = value
        elif name in ("search", "exactsearch"):
            phrases = value.split()[: MAX_WORDS + 1] if name == "search" else [value.strip()]
            if len(phrases) > MAX_WORDS:
                raise _bad(name, f"at most {MAX_WORDS} words.")
            if any(phrases):
                clauses.append(_text(spec, [p for p in phrases if p]))
        else:
            clauses.append(_clause(spec, name, value, who.tenant))
    limit, skip = page_params(paging.get("limit"), paging.get("skip"), default_limit)
    return SearchQuery(spec, {"$and": clauses}, limit, skip)
