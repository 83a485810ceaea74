"""Actor records: their keys, queries and status changes. The only module that queries actors.

An actor's key (its ``db_id``) is ``<tenant>_<actor_id>`` (reference section 0); tenant names
never contain ``_`` (see ``auth``), so the key splits back unambiguously.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from typing import Any

import bson
from mongoengine.errors import SaveConditionError

from . import readcache
from .enums import ActorStatus
from .errors import Conflict, PayloadTooLarge, ValidationError
from .ids import new_id
from .models import Actor, utcnow
from .paging import find_page

__all__ = [
    "key_for",
    "split_key",
    "create",
    "get",
    "get_current",
    "get_current_shared",
    "find",
    "find_raw",
    "from_raw",
    "list_visible",
    "count",
    "search",
    "get_many",
    "apply_update",
    "set_status",
    "mark_ready",
    "fail",
    "claim_worker_slot",
    "cron_due",
    "advance_cron",
    "count_cron_missed",
    "delete",
    "accepts_work",
    "get_state",
    "set_state",
    "check_state",
    "MAX_STATE_DEPTH",
]

MAX_STATE_DEPTH = 50  # nesting of objects and lists in a state (MongoDB refuses 100 and more)


def key_for(tenant: str, actor_id: str) -> str:
    return f"{tenant}_{actor_id}"


def split_key(actor_dbid: str) -> tuple[str, str]:
    """``(tenant, actor_id)`` of an actor key."""
    tenant, _, actor_id = actor_dbid.partition("_")
    return tenant, actor_id


def create(tenant: str, owner: str, values: dict[str, Any]) -> Actor:
    """Insert a new actor with a fresh id (``values`` are validated fields)."""
    actor_id = new_id()
    values = {"state": {}, **values}  # the field may hold null, so its default is not applied
    actor = Actor(db_id=key_for(tenant, actor_id), actor_id=actor_id, tenant=tenant, owner=owner, **values)
    actor.save(force_insert=True)
    return actor


def _written(actor_dbid: str, changed: bool = True) -> bool:
    """After a write: other processes' cached copies of the actor (``readcache``) are stale."""
    if changed:
        readcache.bump(actor_dbid)
    return changed


def get(actor_dbid: str) -> Actor | None:
    return Actor.objects(db_id=actor_dbid).first()


def get_current(actor_dbid: str) -> Actor | None:
    """``get`` through this process's ``readcache``: as exact (every write bumps the actor's
    version), one Redis read instead of a MongoDB read when the actor has not changed."""
    cache = readcache.active()
    if cache is None:
        return get(actor_dbid)
    tenant, actor_id = split_key(actor_dbid)
    raw = cache.get(cache.version(actor_dbid), ("actor", actor_dbid), lambda: find_raw(tenant, actor_id))
    return from_raw(raw) if raw is not None else None


def get_current_shared(actor_dbid: str) -> Actor | None:
    """``get_current`` for a caller that only reads the actor (a worker, at every message): one
    decoded Actor is kept per version and shared, instead of a decoding per call. Never change
    or save it; ``get_current`` gives an own copy."""
    cache = readcache.active()
    if cache is None:
        return get(actor_dbid)
    tenant, actor_id = split_key(actor_dbid)
    actor = cache.get(cache.version(actor_dbid), ("actor-shared", actor_dbid), lambda: find(tenant, actor_id))
    return actor if isinstance(actor, Actor) else None


def find(tenant: str, actor_id: str) -> Actor | None:
    """The actor ``actor_id`` of ``tenant``; another tenant's actor is never returned."""
    raw = find_raw(tenant, actor_id)
    return from_raw(raw) if raw is not None else None


def find_raw(tenant: str, actor_id: str) -> bytes | None:
    """``find``'s record as BSON bytes (immutable: what ``readcache`` keeps), or None."""
    son = Actor._get_collection().find_one({"_id": key_for(tenant, actor_id), "tenant": tenant})
    return bson.encode(son) if son is not None else None


def from_raw(raw: bytes) -> Actor:
    """The actor of ``find_raw``'s bytes: a fresh object each time, which the caller may change."""
    return Actor._from_son(bson.decode(raw))


def list_visible(tenant: str, only: Iterable[str] | None = None) -> list[Actor]:
    """The tenant's actors, oldest first; ``only`` restricts them to these keys."""
    qs = Actor.objects(tenant=tenant)
    if only is not None:
        qs = qs.filter(db_id__in=list(only))
    return list(qs.order_by("create_time"))


def apply_update(actor: Actor, values: dict[str, Any], force: bool) -> bool:
    """Replace the actor's fields (PUT). True when it got a new revision (new image, ``token``
    changed, or ``force``):
    its status goes back to SUBMITTED and new workers must replace the old ones."""
    # a new image, or tokens turned on or off: workers must be replaced (a worker's credential
    # for actor tokens is issued when it starts)
    read_at = actor.revision  # the update applies to what the caller read, or not at all
    new_revision = (
        force
        or values.get("image", actor.image) != actor.image
        or bool(values.get("token", actor.token)) != bool(actor.token)
    )
    for name, value in values.items():
        setattr(actor, name, value)
    actor.last_update_time = utcnow()
    if new_revision:
        actor.revision += 1
        actor.status = ActorStatus.SUBMITTED.value
        actor.status_message = ""
    try:
        actor.save(save_condition={"revision": read_at, "status__ne": ActorStatus.SHUTTING_DOWN.value})
    except SaveConditionError:
        raise Conflict(
            f"Actor {actor.actor_id} changed while this update was made (another update gave it a new "
            "revision, or it is being deleted); read it again and send the update again."
        ) from None
    _written(actor.db_id)
    return new_revision


def set_status(actor_dbid: str, status: ActorStatus, message: str = "") -> bool:
    changed = Actor.objects(db_id=actor_dbid).update_one(set__status=status.value, set__status_message=message)
    return _written(actor_dbid, bool(changed))


def mark_ready(actor_dbid: str, revision: int) -> bool:
    """SUBMITTED -> READY once a worker of the current revision is up (never from ERROR or
    SHUTTING_DOWN, and never for a stale revision)."""
    changed = Actor.objects(db_id=actor_dbid, revision=revision, status=ActorStatus.SUBMITTED.value).update_one(
        set__status=ActorStatus.READY.value, set__status_message=""
    )
    return _written(actor_dbid, bool(changed))


def fail(actor_dbid: str, reason: str) -> bool:
    """Put the actor in ERROR with a message that says why (it stops taking messages)."""
    return set_status(actor_dbid, ActorStatus.ERROR, reason)


def claim_worker_slot(actor_dbid: str, slot: str) -> bool:
    """Atomically take the right to request a worker in time slot ``slot`` (one caller wins).
    (``worker_claim`` is only ever read by this update, so cached copies need no bump.)"""
    return bool(Actor.objects(db_id=actor_dbid, worker_claim__ne=slot).update_one(set__worker_claim=slot))


def cron_due(now: dt.datetime) -> list[Actor]:
    """Actors whose next cron slot (``cron_next_time``) is at or before ``now``, earliest first."""
    return list(Actor.objects(cron_next_time__lte=now).order_by("cron_next_time"))


def advance_cron(
    actor_dbid: str, expected: dt.datetime, next_time: dt.datetime | None, next_ex: str | None, missed: int = 0
) -> bool:
    """Move an actor's next cron slot from ``expected`` to ``next_time`` (and count ``missed``
    slots), only if it is still ``expected``: of several health processes passing at once,
    exactly one wins each slot."""
    changed = Actor.objects(db_id=actor_dbid, cron_next_time=expected).update_one(
        set__cron_next_time=next_time, set__cron_next_ex=next_ex, inc__cron_missed=missed
    )
    return _written(actor_dbid, bool(changed))


def count_cron_missed(actor_dbid: str, slots: int) -> None:
    """Add ``slots`` to the actor's count of cron slots that did not run."""
    Actor.objects(db_id=actor_dbid).update_one(inc__cron_missed=slots)
    _written(actor_dbid)


def delete(actor_dbid: str) -> None:
    Actor.objects(db_id=actor_dbid).delete()
    _written(actor_dbid)


def accepts_work(actor: Actor) -> bool:
    """False for an actor being deleted or in ERROR: it runs no messages and gets no workers."""
    return actor.status not in (ActorStatus.SHUTTING_DOWN.value, ActorStatus.ERROR.value)


def _require_stateful(actor: Actor) -> None:
    if actor.stateless:
        raise ValidationError(
            f"Actor {actor.actor_id} is stateless: only stateful actors (stateless: false) have a state."
        )


def get_state(actor: Actor) -> Any:
    """A stateful actor's state (any JSON value); ValidationError for a stateless actor."""
    _require_stateful(actor)
    return actor.state


def set_state(actor: Actor, value: Any, max_bytes: int = 0) -> bool:
    """Replace a stateful actor's state with any JSON value; False when the actor is gone.

    Raises ValidationError for a stateless actor and for a value MongoDB cannot store (see
    ``check_state``), so a bad state is a clear 400, never a server error. Every execution gets
    the state in its environment (``_abaco_actor_state``, a Python repr, as the original), where
    Linux caps one string at 128 KiB: a state that renders to more than ``max_bytes`` would keep
    the actor's containers from starting, so it is refused (413) here instead.
    """
    _require_stateful(actor)
    check_state(value)
    rendered = len((value if isinstance(value, str) else str(value)).encode())
    if max_bytes and rendered > max_bytes:
        raise PayloadTooLarge(
            f"The state renders to {rendered} bytes in the container's environment (_abaco_actor_state); "
            f"at most {max_bytes} bytes fit."
        )
    if not _written(actor.db_id, bool(Actor.objects(db_id=actor.db_id).update_one(set__state=value))):
        return False
    actor.state = value
    return True


def check_state(value: Any, depth: int = 0) -> None:
    """A state is stored as a document field: object keys may not contain ``.`` or NUL, nor
    start with ``$``, nor be ``_cls`` (mongoengine would read such an object back as a document
    of that class), and nesting is bounded."""
    if depth > MAX_STATE_DEPTH:
        raise ValidationError(f"Invalid state: nested more than {MAX_STATE_DEPTH} levels deep.")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "." in key or "\x00" in key or key.startswith("$") or key == "_cls":
                raise ValidationError(
                    f"Invalid state: the key {key!r} is not allowed (keys may not contain '.', "
                    "start with '$', or be '_cls')."
                )
            check_state(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_state(item, depth + 1)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValidationError("Invalid state: integers must fit in 64 bits.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("Invalid state: numbers must be finite.")
    else:
        raise ValidationError(f"Invalid state: {type(value).__name__} is not a JSON value.")


def search(flt: dict[str, Any], order: tuple[str, ...], limit: int, skip: int) -> tuple[int, list[Actor]]:
    """``(total, page)`` of the actors matching a prepared filter (built by ``search.parse``)."""
    return find_page(Actor, flt, order, limit, skip)


def get_many(actor_dbids: Iterable[str]) -> dict[str, Actor]:
    """The actors with these keys, by key (missing ones left out)."""
    return {a.db_id: a for a in Actor.objects(db_id__in=sorted(set(actor_dbids)))}


def count(tenant: str) -> int:
    """How many actors the tenant has now."""
    return int(Actor.objects(tenant=tenant).count())


def dbids_of_owner(tenant: str, owner: str) -> list[str]:
    """The record ids of the actors one user owns in a tenant (per-user worker quotas)."""
    return [a.db_id for a in Actor.objects(tenant=tenant, owner=owner).only("db_id")]


def stateless() -> Iterator[Actor]:
    """Every stateless actor (the ones the autoscaler may scale)."""
    return iter(Actor.objects(stateless=True))
