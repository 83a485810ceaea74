"""Execution logs: one record per execution, keyed like it, with an optional expiry time."""

from __future__ import annotations

import datetime as dt

from .models import Execution, Log, utcnow
from .paging import find_page

__all__ = ["save", "text_of", "delete_for_actor", "search"]


def save(ex: Execution, text: str, ttl: int | None) -> None:
    """Store an execution's output (replacing an earlier copy); ``ttl`` seconds, if any, until it
    may be expired."""
    record = Log(
        db_id=ex.db_id,
        actor_dbid=ex.actor_dbid,
        tenant=ex.tenant,
        execution_id=ex.execution_id,
        logs=text,
        exp=utcnow() + dt.timedelta(seconds=ttl) if ttl else None,
    )
    # one upsert (mongoengine's save of a new document with its key set is a find-and-replace,
    # then an insert: two round trips for every execution)
    Log._get_collection().replace_one({"_id": ex.db_id}, record.to_mongo(), upsert=True)


def text_of(ex_dbid: str) -> str:
    """The execution's logs ("" when none were saved)."""
    record = Log.objects(db_id=ex_dbid).only("logs").first()
    return str(record.logs) if record else ""


def delete_for_actor(actor_dbid: str) -> int:
    return int(Log.objects(actor_dbid=actor_dbid).delete())


def search(flt: dict[str, object], order: tuple[str, ...], limit: int, skip: int) -> tuple[int, list[Log]]:
    """``(total, page)`` of the log records matching a prepared filter (built by ``search.parse``)."""
    return find_page(Log, flt, order, limit, skip)
