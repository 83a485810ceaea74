"""Validation of the actor body of POST and PUT /actors (reference 1.3)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from abaco_shared.auth import Principal
from abaco_shared.cron import schedule_fields
from abaco_shared.envvars import check_name, check_value
from abaco_shared.errors import PermissionDenied, ValidationError
from abaco_shared.models import Actor, utcnow

__all__ = ["parse_actor_body", "parse_force", "current_values", "PRIVILEGED_FIELDS", "Limits", "IMAGE_REQUIRED"]

# the original's reqparse wording, which clients match on
IMAGE_REQUIRED = "image is required: Missing required parameter in the JSON body or the post body or the query string."
STATEFUL_ONE_WORKER = "Invalid max_workers: stateful actors can only have 1 worker."


@dataclass(frozen=True)
class Limits:
    """Upper bounds from config (seconds)."""

    max_run_time: int = 7 * 86400
    log_ex: int = 10 * 365 * 86400
    default_log_ex: int = 0  # what a new actor that names no log_ex gets (0: logs kept)


# field -> (type, default)
FIELDS: dict[str, tuple[type, Any]] = {
    "image": (str, None),
    "name": (str, None),
    "description": (str, ""),
    "stateless": (bool, True),
    "type": (str, "none"),
    "default_environment": (dict, None),
    "privileged": (bool, False),
    "max_workers": (int, None),
    "min_workers": (int, None),
    "mem_limit": (str, None),
    "max_cpus": (int, None),
    "use_container_uid": (bool, False),
    "queue": (str, "default"),
    "token": (bool, False),
    "link": (str, ""),
    "webhook": (str, ""),
    "hints": (list, None),
    "log_ex": (int, None),
    "cron_schedule": (str, None),
    "cron_on": (bool, False),
    "run_as_executor": (bool, False),
    "max_run_time": (int, None),
}
PRIVILEGED_FIELDS = ("privileged", "max_workers", "mem_limit", "max_cpus", "queue", "use_container_uid")
# Fields the original parsed but a client must not set; accepted and ignored for compatibility.
IGNORED = {
    "id",
    "owner",
    "status",
    "status_message",
    "state",
    "uid",
    "gid",
    "tasdir",
    "revision",
    "create_time",
    "last_update_time",
    "_links",
    "mounts",
    "api_server",
    "cron_next_ex",
    "cron_next_ex_time",
    "cron_missed",
    "force",
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_IMAGE = re.compile(r"^[a-z0-9]+(?:[._/:@-][A-Za-z0-9_.-]+)*$")
_MEM = re.compile(r"^[0-9]+[bkmgBKMG]?$")
_HINT_FORBIDDEN = set("\"'{}[]")
_TYPES = ("none", "bin", "json")
_WEBHOOK = re.compile(r"^https?://[^\s]+$")


def _valid_webhook(url: str) -> bool:
    """An http(s) URL of at most 2,048 characters with a host, whose port (if any) is a number:
    what the events agent can call."""
    if len(url) > 2048 or not _WEBHOOK.match(url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return bool(parts.hostname)


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def _coerce(name: str, typ: type, value: Any) -> Any:
    if value is None:
        return None
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
            return value.lower() in ("true", "1")
        raise ValidationError(f"Invalid {name}: expected a boolean (true/false).")
    if typ is int:
        if isinstance(value, bool):
            raise ValidationError(f"Invalid {name}: expected an integer.")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        raise ValidationError(f"Invalid {name}: expected an integer.")
    if typ is str:
        if not isinstance(value, str):
            raise ValidationError(f"Invalid {name}: expected a string.")
        return value
    if typ is dict:
        if not isinstance(value, dict):
            raise ValidationError(f"Invalid {name}: expected a JSON object.")
        return value
    if typ is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError(f"Invalid {name}: expected a list of strings.")
        return value
    raise AssertionError(typ)


def parse_force(body: dict[str, Any]) -> bool:
    """PUT's ``force``: a new revision (and new workers) even with the same image."""
    return bool(_coerce("force", bool, body.get("force", False)))


def current_values(actor: Actor) -> dict[str, Any]:
    """An actor's stored values of every body field (what a PUT keeps when it leaves them out)."""
    return {name: getattr(actor, name) for name in FIELDS}


def parse_actor_body(
    body: dict[str, Any],
    who: Principal,
    host_queues: tuple[str, ...],
    limits: Limits = Limits(),
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check every field; return the values to store.

    POST (``current`` None): fields left out get their defaults. PUT (``current``, the actor's
    :func:`current_values`): fields left out keep their stored value, and only fields the body
    changes need the privileged role; the rules are checked on the result.
    """
    given: dict[str, Any] = {}
    for key, value in body.items():
        name = _snake(key)
        if name in IGNORED:
            continue
        if name not in FIELDS:
            raise ValidationError(f"Unknown field: {key}.")
        given[name] = _coerce(name, FIELDS[name][0], value)
    posted = set(given)
    if current is not None and not who.is_privileged:
        # the code and settings of an actor that runs privileged, or as its image's own user, are
        # a privileged user's to change: its image, environment and the rest run with them
        held = [name for name in ("privileged", "use_container_uid") if current.get(name)]
        if held:
            raise PermissionDenied(
                f"Not authorized -- this actor runs with {' and '.join(held)}; only privileged users may update it."
            )
    for name in PRIVILEGED_FIELDS:
        default = FIELDS[name][1]
        changed = current is None or given.get(name) != current.get(name)
        if name in given and changed and given[name] not in (None, default) and not who.is_privileged:
            raise PermissionDenied(f"Not authorized -- only privileged users may set {name}.")
    if current is not None:  # PUT: what the body leaves out keeps its value
        given = {**{k: v for k, v in current.items() if k in FIELDS}, **given}
    image = given.get("image")
    if not image:
        raise ValidationError(IMAGE_REQUIRED)
    if len(image) > 255 or not _IMAGE.match(image):
        shown = image if len(image) <= 100 else image[:100] + "..."
        raise ValidationError(f"Invalid image: {shown!r} is not a Docker image reference.")
    if given.get("type") is not None and given["type"] not in _TYPES:
        raise ValidationError(f"Invalid type: {given['type']!r}; use one of {', '.join(_TYPES)}.")
    if given.get("webhook") and not _valid_webhook(given["webhook"]):
        raise ValidationError("Invalid webhook: expected an http:// or https:// URL.")
    cron_on = given.get("cron_on") if "cron_on" in posted else None  # reference 3.8; see cron.schedule_fields
    stored = current.get("cron_schedule") if current is not None else None
    cron = schedule_fields(given.get("cron_schedule"), stored, cron_on, utcnow(), creating=current is None)
    env = given.get("default_environment") or {}
    for k, v in env.items():
        check_name(k, "default_environment")
        if not isinstance(v, (str, int, float, bool)):
            raise ValidationError(f"Invalid default_environment: the value of {k} must be a string or number.")
        check_value(k, str(v), "default_environment")
    for hint in given.get("hints") or []:
        if set(hint) & _HINT_FORBIDDEN:
            raise ValidationError(f"Invalid hints: {hint!r} contains a forbidden character.")
    if given.get("mem_limit") and not _MEM.match(given["mem_limit"]):
        raise ValidationError("Invalid mem_limit: use a Docker memory string such as 512m or 1g.")
    for name in ("max_workers", "min_workers", "max_cpus", "log_ex", "max_run_time"):
        if given.get(name) is not None and given[name] < 0:
            raise ValidationError(f"Invalid {name}: must not be negative.")
    for name, cap in (("max_run_time", limits.max_run_time), ("log_ex", limits.log_ex)):
        if given.get(name) is not None and given[name] > cap:
            raise ValidationError(f"Invalid {name}: at most {cap} seconds.")
    for name in ("max_workers", "min_workers", "max_cpus"):
        if given.get(name) is not None and given[name] > 2**53:
            raise ValidationError(f"Invalid {name}: too large.")
    if given.get("stateless") is False and given.get("max_workers") not in (None, 1):
        raise ValidationError(STATEFUL_ONE_WORKER)
    fewest, most = given.get("min_workers"), given.get("max_workers")
    if fewest is not None and most is not None and fewest > most:
        raise ValidationError(f"Invalid min_workers: {fewest} is more than max_workers ({most}).")
    if given.get("stateless") is False and fewest not in (None, 0, 1):
        raise ValidationError("Invalid min_workers: stateful actors have exactly 1 worker.")
    queue = given.get("queue") or "default"
    if queue not in host_queues:
        raise ValidationError(f"Invalid queue: {queue!r}; known queues: {', '.join(host_queues)}.")
    values = {name: default for name, (_, default) in FIELDS.items()}
    values.update({k: v for k, v in given.items() if v is not None or FIELDS[k][1] is None})
    values["default_environment"] = {k: str(v) for k, v in env.items()}
    values["hints"] = given.get("hints") or []
    values["queue"] = queue
    if current is None and given.get("log_ex") is None and limits.default_log_ex:
        values["log_ex"] = min(limits.default_log_ex, limits.log_ex)
    values.update(cron)
    return values
