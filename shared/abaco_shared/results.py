"""Execution results: the datagrams an actor sends to ``/_abaco_results.sock``, kept in order.

One record per datagram, keyed ``<execution key>_<seq>`` (``seq`` counts from 0 in the order the
worker received them), so a re-stored datagram overwrites itself and never duplicates. A result
is *consumed* when a reader pops it (GET ``.../results`` or a synchronous call): each pop takes
the oldest unconsumed one atomically, so two readers never get the same result. Records expire
with the execution's logs (``log_ex``) and go with the actor's logs when the actor is deleted.
"""

from __future__ import annotations

import datetime as dt

from mongoengine import BinaryField, BooleanField, DateTimeField, Document, IntField, StringField

from .models import utcnow

__all__ = ["MAX_DATAGRAM", "Result", "key_for", "store", "pop_next", "page", "delete_for_execution", "delete_for_actor"]

MAX_DATAGRAM = 131072  # bytes: the largest result one datagram may carry (the original's limit)


class Result(Document):
    """One result datagram of one execution."""

    meta = {
        "collection": "results",
        "indexes": [
            ("ex_dbid", "seq"),  # listing in order
            ("ex_dbid", "consumed", "seq"),  # popping the oldest unconsumed one
            "actor_dbid",  # deleting an actor's
            {"fields": ["exp"], "expireAfterSeconds": 0},  # records with an exp time expire then
        ],
    }

    db_id = StringField(primary_key=True)  # "<execution key>_<seq>"
    ex_dbid = StringField(required=True)
    actor_dbid = StringField(required=True)
    seq = IntField(required=True, min_value=0)
    data = BinaryField(required=True, max_bytes=MAX_DATAGRAM)
    size = IntField(required=True, min_value=0)
    consumed = BooleanField(default=False)
    create_time = DateTimeField(default=utcnow)
    exp = DateTimeField(null=True)


def key_for(ex_dbid: str, seq: int) -> str:
    return f"{ex_dbid}_{seq}"


def store(ex_dbid: str, actor_dbid: str, seq: int, data: bytes, ttl: int | None = None) -> None:
    """Keep datagram number ``seq`` of an execution; ``ttl`` seconds, if any, until it expires."""
    Result(
        db_id=key_for(ex_dbid, seq),
        ex_dbid=ex_dbid,
        actor_dbid=actor_dbid,
        seq=seq,
        data=data,
        size=len(data),
        exp=utcnow() + dt.timedelta(seconds=ttl) if ttl else None,
    ).save(validate=False)  # the worker checked the size; the rest is ours


def pop_next(ex_dbid: str) -> bytes | None:
    """The execution's oldest unconsumed result, marked consumed (one atomic update); None if none."""
    qs = Result.objects(ex_dbid=ex_dbid, consumed=False).order_by("seq").only("data")
    record = qs.modify(set__consumed=True)
    return None if record is None else bytes(record.data)


def page(ex_dbid: str, limit: int, skip: int) -> tuple[int, list[Result]]:
    """``(total, results)``: a page of the execution's results in order, consumed or not (unchanged)."""
    qs = Result.objects(ex_dbid=ex_dbid)
    total = qs.count()
    if limit <= 0:
        return total, []
    return total, list(qs.order_by("seq").skip(skip).limit(limit))


def delete_for_execution(ex_dbid: str) -> int:
    """Forget what an earlier attempt of the execution sent (a retried execution starts afresh)."""
    return int(Result.objects(ex_dbid=ex_dbid).delete())


def delete_for_actor(actor_dbid: str) -> int:
    return int(Result.objects(actor_dbid=actor_dbid).delete())
