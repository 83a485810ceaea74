"""Worker records: keys, queries, and every status change through one transition table.

A worker's key is ``<actor db_id>_<worker_id>``; its heartbeat lives in Redis under
:func:`heartbeat_key`. Statuses are verbatim Abaco (reference 1.3, 3.3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import Enum

from mongoengine.queryset.visitor import Q

from . import readcache
from .enums import WorkerStatus
from .models import Actor, Worker, utcnow
from .paging import find_page

__all__ = [
    "ALLOWED_FROM",
    "key_for",
    "heartbeat_key",
    "channel_name",
    "create_requested",
    "get",
    "get_for_actor",
    "exists",
    "existing",
    "list_for_actor",
    "list_for_tenant",
    "search",
    "has_pending",
    "has_pending_cached",
    "pending_by_actor",
    "actor_of",
    "count_pending",
    "count_on_host",
    "live_on_host",
    "stuck_before",
    "set_status",
    "take_over",
    "release",
    "touch",
    "delete",
    "delete_if",
    "count_by_status",
    "actor_keys",
    "list_all",
]

S = WorkerStatus
# status -> the statuses it may be entered from; None: from any status (reference 3.3)
ALLOWED_FROM: dict[WorkerStatus, tuple[WorkerStatus, ...] | None] = {
    S.REQUESTED: (),  # only ever inserted
    S.SPAWNER_SETUP: (S.REQUESTED,),
    S.PULLING_IMAGE: (S.SPAWNER_SETUP,),
    S.CREATING_CONTAINER: (S.SPAWNER_SETUP, S.PULLING_IMAGE),
    S.UPDATING_STORE: (S.CREATING_CONTAINER,),
    S.READY: (S.UPDATING_STORE, S.READY, S.BUSY),
    S.BUSY: (S.READY, S.BUSY),
    S.SHUTDOWN_REQUESTED: None,
    S.SHUTTING_DOWN: None,
    S.ERROR: None,
}
LIVE = (S.UPDATING_STORE, S.READY, S.BUSY, S.SHUTDOWN_REQUESTED, S.SHUTTING_DOWN)
STOPPING = (S.SHUTDOWN_REQUESTED, S.SHUTTING_DOWN)


def _values(statuses: tuple[WorkerStatus, ...]) -> list[str]:
    return [s.value for s in statuses]


def key_for(actor_dbid: str, worker_id: str) -> str:
    return f"{actor_dbid}_{worker_id}"


def heartbeat_key(prefix: str, worker_id: str) -> str:
    return f"{prefix}worker:{worker_id}:heartbeat"


def channel_name(worker_id: str) -> str:
    return f"worker_{worker_id}"


def create_requested(actor: Actor, worker_id: str) -> Worker:
    """Insert a REQUESTED worker for the actor's current image and revision."""
    worker = Worker(
        db_id=key_for(actor.db_id, worker_id),
        worker_id=worker_id,
        actor_dbid=actor.db_id,
        tenant=actor.tenant,
        image=actor.image,
        revision=actor.revision,
        ch_name=channel_name(worker_id),
    )
    worker.save(force_insert=True)
    return worker


def get(worker_dbid: str) -> Worker | None:
    return Worker.objects(db_id=worker_dbid).first()


def get_for_actor(actor_dbid: str, worker_id: str) -> Worker | None:
    return get(key_for(actor_dbid, worker_id))


def exists(worker_dbid: str) -> bool:
    return Worker.objects(db_id=worker_dbid).only("db_id").first() is not None


def existing(worker_dbids: Iterable[str]) -> set[str]:
    """Which of these worker records exist (one query)."""
    keys = sorted(set(worker_dbids))
    if not keys:
        return set()
    return {str(doc["_id"]) for doc in Worker._get_collection().find({"_id": {"$in": keys}}, {"_id": 1})}


def exists_with_id(worker_id: str) -> bool:
    """A record of that worker id, of any actor and any host."""
    return Worker.objects(worker_id=worker_id).only("db_id").first() is not None


def list_for_actor(actor_dbid: str) -> list[Worker]:
    return list(Worker.objects(actor_dbid=actor_dbid).order_by("create_time"))


def actor_of(worker_dbid: str) -> str:
    """The actor key of a worker key (ids and tenants have no ``_``; see ``key_for``)."""
    return worker_dbid.rsplit("_", 1)[0]


def _left_pending(worker_dbid: str, status: WorkerStatus | None, changed: bool) -> bool:
    """After a worker left the pending statuses (or its record went): the actor's cached
    ``has_pending_cached`` answers are stale (``readcache``; entering them needs no bump, since
    only a True answer is cached)."""
    if changed and (status is None or status not in WorkerStatus.pending()):
        readcache.bump(actor_of(worker_dbid))
    return changed


def has_pending_cached(actor_dbid: str) -> bool:
    """``has_pending`` for the messages API's hot path: a True answer is kept in this process's
    ``readcache`` under the actor's version, which every worker that stops taking messages bumps."""
    cache = readcache.active()
    if cache is None:
        return has_pending(actor_dbid)
    version = cache.version(actor_dbid)
    return bool(cache.get(version, ("has_pending", actor_dbid), lambda: has_pending(actor_dbid) or None))


def has_pending(actor_dbid: str, statuses: tuple[WorkerStatus, ...] = WorkerStatus.pending()) -> bool:
    """True when the actor has a worker alive or on its way (by default: one that takes messages)."""
    return Worker.objects(actor_dbid=actor_dbid, status__in=_values(statuses)).only("db_id").first() is not None


def pending_by_actor() -> dict[str, list[Worker]]:
    """Every worker alive or on its way that takes messages, by actor key: one query."""
    by: dict[str, list[Worker]] = {}
    for worker in Worker.objects(status__in=_values(WorkerStatus.pending())):
        by.setdefault(worker.actor_dbid, []).append(worker)
    return by


def count_pending(actor_dbid: str) -> int:
    """The actor's workers alive or on their way that take messages (REQUESTED .. BUSY)."""
    return int(Worker.objects(actor_dbid=actor_dbid, status__in=_values(WorkerStatus.pending())).count())


def count_on_host(host_id: str) -> int:
    """Workers of this host that are running or on their way (the per-host capacity)."""
    return int(Worker.objects(host_id=host_id, status__in=_values(WorkerStatus.pending())).count())


def live_on_host(host_id: str, with_pid: bool = False) -> list[Worker]:
    """Workers of this host whose process was started (and, with ``with_pid``, has a recorded pid)."""
    qs = Worker.objects(host_id=host_id, status__in=_values(LIVE))
    if with_pid:
        qs = qs.filter(pid__ne=None)
    return list(qs)


def stuck_before(cutoff: dt.datetime) -> list[Worker]:
    """Workers requested before ``cutoff`` that never got a process: still starting, or asked to
    stop before they had one."""
    never_started = Q(status__in=_values(WorkerStatus.starting())) | Q(status__in=_values(STOPPING), pid=None)
    return list(Worker.objects(never_started & Q(create_time__lt=cutoff)))


def set_status(worker_dbid: str, status: WorkerStatus, message: str = "", **fields: object) -> bool:
    """Move a worker to ``status`` if :data:`ALLOWED_FROM` permits it; False when it did not.

    The check and the write are one conditional update, so concurrent writers cannot make a
    transition the table forbids.
    """
    query: dict[str, object] = {"_id": worker_dbid}
    allowed = ALLOWED_FROM[status]
    if allowed is not None:
        query["status"] = {"$in": _values(allowed)}
    updates: dict[str, object] = {"status": status.value}
    for name, value in fields.items():
        if name not in Worker._fields or name == "db_id":
            raise ValueError(f"a worker has no field {name!r}")
        updates[name] = value.value if isinstance(value, Enum) else value
    if message:
        updates["status_message"] = message
    # twice per execution (BUSY, READY): through pymongo (same field names), not mongoengine's query building
    changed = Worker._get_collection().update_one(query, {"$set": updates}).matched_count > 0
    return _left_pending(worker_dbid, status, changed)


def take_over(seen: Worker, status: WorkerStatus, **fields: object) -> bool:
    """Resume an interrupted start: move the worker to ``status`` (any status, with ``fields``) only
    if it still has the status, pid and spawner it was ``seen`` with, so that of two spawners
    resuming the same start only one goes on. False when the record changed (or is gone)."""
    same_spawner = Q(spawner=seen.spawner)
    if not seen.spawner:  # records written before the field existed have none
        same_spawner |= Q(spawner__exists=False) | Q(spawner=None)
    query = Q(db_id=seen.db_id, status=seen.status, pid=seen.pid) & same_spawner
    updates = {f"set__{k}": v for k, v in fields.items()}
    return _left_pending(
        seen.db_id, status, bool(Worker.objects(query).update_one(set__status=status.value, **updates))
    )


def release(worker_dbid: str, spawner: str) -> bool:
    """The spawner ``spawner`` stops driving this worker's start (it gave up waiting for it)."""
    return bool(Worker.objects(db_id=worker_dbid, spawner=spawner).update_one(set__spawner=""))


def touch(worker_dbid: str) -> None:
    """Record a health-check answer."""
    Worker.objects(db_id=worker_dbid).update_one(set__last_health_check_time=utcnow())


def delete(worker_dbid: str) -> bool:
    return _left_pending(worker_dbid, None, bool(Worker.objects(db_id=worker_dbid).delete()))


def delete_if(worker_dbid: str, **conditions: object) -> bool:
    """Delete the record only if it still has these field values (e.g. ``status=``, ``pid=``)."""
    query = {k: (v.value if isinstance(v, WorkerStatus) else v) for k, v in conditions.items()}
    return _left_pending(worker_dbid, None, bool(Worker.objects(db_id=worker_dbid, **query).delete()))


def search(flt: dict[str, object], order: tuple[str, ...], limit: int, skip: int) -> tuple[int, list[Worker]]:
    """``(total, page)`` of the workers matching a prepared filter (built by ``search.parse``)."""
    return find_page(Worker, flt, order, limit, skip)


def list_for_tenant(tenant: str) -> list[Worker]:
    """Every worker record of the tenant's actors, oldest first."""
    return list(Worker.objects(tenant=tenant).order_by("create_time", "db_id"))


def count_by_status(tenant: str | None = None) -> dict[str, int]:
    """How many worker records there are per status (of one tenant, or of all)."""
    match = {"$match": {"tenant": tenant}} if tenant is not None else {"$match": {}}
    rows = Worker.objects.aggregate([match, {"$group": {"_id": "$status", "n": {"$sum": 1}}}])
    return {str(row["_id"]): int(row["n"]) for row in rows}


def actor_keys(tenant: str | None = None) -> list[str]:
    """The keys of the actors that have worker records (of one tenant, or of all)."""
    qs = Worker.objects(tenant=tenant) if tenant is not None else Worker.objects
    return sorted(qs.distinct("actor_dbid"))


def list_all(tenant: str | None = None) -> list[Worker]:
    """Every worker record (of one tenant, or of all), oldest first."""
    return list_for_tenant(tenant) if tenant is not None else list(Worker.objects.order_by("create_time", "db_id"))


def count_pending_of(tenant: str, actor_dbids: list[str] | None = None) -> int:
    """Workers alive or on their way (REQUESTED .. BUSY) of a tenant, or of only these actors."""
    qs = Worker.objects(tenant=tenant, status__in=_values(WorkerStatus.pending()))
    if actor_dbids is not None:
        qs = qs.filter(actor_dbid__in=actor_dbids)
    return int(qs.count())
