"""Execution records: keys, queries and the life of one execution. The only module that writes them.

    submit -> claim -> start -> complete        (COMPLETE, with an outcome)
                   \\-> end(outcome, reason)     (ERROR: never ran to an exit code)

An execution's key is ``<actor db_id>_<execution_id>``. ``status`` keeps the original's
vocabulary (a non-zero exit still ends COMPLETE); ``outcome`` says what really happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
import pymongo
import pymongo.errors
from bson.int64 import Int64
from mongoengine.errors import NotUniqueError
from mongoengine.queryset.visitor import Q

from .enums import DeadLetter, ExecutionOutcome, ExecutionStatus
from .groupcommit import GroupCommit
from .models import Actor, Execution, utcnow
from .paging import find_page

__all__ = [
    "key_for",
    "Totals",
    "Completion",
    "Submitted",
    "ExecutionRef",
    "submit",
    "new_record",
    "write_record",
    "receipt",
    "insert_records",
    "record_manual",
    "get",
    "get_by_key",
    "is_terminal",
    "claim",
    "current",
    "adopt",
    "start",
    "complete",
    "end",
    "end_pending",
    "end_lost",
    "pending",
    "page",
    "search",
    "totals",
    "totals_by_actor",
    "actors_with_unclaimed_before",
    "actors_with_unfinished",
    "running_worker",
    "count_by_status",
]

TERMINAL = [s.value for s in ExecutionStatus if s.terminal]
UNFINISHED = [ExecutionStatus.SUBMITTED.value, ExecutionStatus.RUNNING.value]
# what of Docker's State is kept on the record
FINAL_STATE_KEYS = ("Status", "ExitCode", "OOMKilled", "Error", "StartedAt", "FinishedAt", "Dead", "Running")


def key_for(actor_dbid: str, execution_id: str) -> str:
    return f"{actor_dbid}_{execution_id}"


@dataclass(frozen=True)
class Totals:
    count: int = 0
    cpu: int = 0
    io: int = 0
    runtime: int = 0


@dataclass(frozen=True)
class Completion:
    """What a container run produced, ready to be recorded."""

    outcome: ExecutionOutcome
    exit_code: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    runtime_ms: int
    cpu_ns: int | None = 0  # None: not measured (an adopted container)
    io_bytes: int | None = 0
    final_state: dict[str, Any] = field(default_factory=dict)
    status_message: str = ""
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submitted:
    """A SUBMITTED execution just recorded: what its sender is answered with. The stored record
    is an :class:`Execution`, loaded when asked for (``load``)."""

    db_id: str
    execution_id: str
    actor_dbid: str
    content_type: str
    message: Any

    def load(self) -> Execution:
        ex = get_by_key(self.db_id)
        if ex is None:
            raise LookupError(f"execution {self.db_id} is gone")
        return ex


# an execution as a sender is answered: a fresh one's receipt, or a stored one (an idempotent repeat)
ExecutionRef = Execution | Submitted


def submit(
    actor: Actor,
    execution_id: str,
    executor: str,
    content_type: str,
    message: Any,
    params: dict[str, str],
    binary_ref: str | None = None,
) -> Submitted:
    """Record a new SUBMITTED execution for a message about to be queued (``binary_ref``: the
    blob of a binary message's payload, kept for a re-send).

    One insert per message, straight through pymongo, together with those of other requests at
    the same moment (``groupcommit``); a repeated key is a NotUniqueError, as save() says it."""
    doc = new_record(actor, execution_id, executor, content_type, message, params, binary_ref)
    write_record(doc)
    return receipt(doc)


def write_record(doc: dict[str, Any]) -> None:
    """Insert one document of :func:`new_record` (with other threads' at the same moment)."""
    _INSERTS.submit(doc)


def new_record(
    actor: Actor,
    execution_id: str,
    executor: str,
    content_type: str,
    message: Any,
    params: dict[str, str],
    binary_ref: str | None = None,
) -> dict[str, Any]:
    """The document of a new SUBMITTED execution, for :func:`insert_records`.

    It is, field for field, what mongoengine writes for an :class:`Execution` with these values
    and every other field at its default (building that document cost a new message more CPU
    than its insert). A document BSON cannot hold fails here, in its own request, not its batch."""
    doc: dict[str, Any] = {
        "_id": key_for(actor.db_id, execution_id),
        "execution_id": execution_id,
        "actor_dbid": actor.db_id,
        "tenant": actor.tenant,
        "executor": executor,
        "worker_id": "",
        "status": ExecutionStatus.SUBMITTED.value,
        "outcome": None,
        "status_message": "",
        "message_received_time": utcnow(),
        "start_time": None,
        "finish_time": None,
        "runtime": Int64(0),
        "cpu": None,
        "io": None,
        "exit_code": None,
        "final_state": {},
        "content_type": content_type,
        "message": message,
    }
    if binary_ref is not None:
        doc["binary_ref"] = binary_ref
    doc.update(params=dict(params), attempts=0, limits={})
    bson.encode(doc)
    return doc


def receipt(doc: dict[str, Any]) -> Submitted:
    """What a sender is answered for the record ``doc`` once it is written."""
    return Submitted(doc["_id"], doc["execution_id"], doc["actor_dbid"], doc["content_type"], doc["message"])


def insert_records(docs: Sequence[dict[str, Any]]) -> list[Exception | None]:
    """Insert documents of :func:`new_record` (one ``insert_many``, or ``insert_one`` for a lone
    record, which costs less): one outcome per document (None: written). A write concern the
    server could not meet fails each insert it reports on, as it would fail a lone one."""
    collection = Execution._get_collection()
    try:
        if len(docs) == 1:
            collection.insert_one(docs[0])
        else:
            collection.insert_many(docs, ordered=False)
    except pymongo.errors.DuplicateKeyError as exc:
        return [_insert_error(docs[0], exc.details or {"code": 11000, "errmsg": str(exc)})]
    except pymongo.errors.BulkWriteError as exc:
        failed = {e["index"]: e for e in exc.details.get("writeErrors", [])}
        concern = exc.details.get("writeConcernErrors") or []
        unmet = pymongo.errors.WriteConcernError(concern[0].get("errmsg", "write concern")) if concern else None
        return [_insert_error(doc, failed[i]) if i in failed else unmet for i, doc in enumerate(docs)]
    return [None] * len(docs)


def _insert_error(doc: dict[str, Any], error: Mapping[str, Any]) -> Exception:
    if error.get("code") == 11000:  # as save() would say it
        return NotUniqueError(f"execution {doc['_id']} exists: {error.get('errmsg', '')}")
    return pymongo.errors.OperationFailure(error.get("errmsg", "insert failed"), error.get("code"), error)


# concurrent submits write their records together (one insert_many per batch)
_INSERTS: GroupCommit[dict[str, Any], None] = GroupCommit(insert_records)


def record_manual(actor: Actor, execution_id: str, executor: str, runtime: int, cpu: int, io: int) -> Execution:
    """The original's legacy manual add: a COMPLETE execution with the given usage, no container."""
    now = utcnow()
    ex = Execution(
        db_id=key_for(actor.db_id, execution_id),
        execution_id=execution_id,
        actor_dbid=actor.db_id,
        tenant=actor.tenant,
        executor=executor,
        status=ExecutionStatus.COMPLETE.value,
        outcome=ExecutionOutcome.SUCCESS.value,
        status_message="Added by hand (POST .../executions).",
        message_received_time=now,
        start_time=now,
        finish_time=now,
        runtime=runtime,
        cpu=cpu,
        io=io,
    )
    ex.save(force_insert=True)
    return ex


def get(actor_dbid: str, execution_id: str) -> Execution | None:
    return get_by_key(key_for(actor_dbid, execution_id))


def get_by_key(ex_dbid: str) -> Execution | None:
    return Execution.objects(db_id=ex_dbid).first()


def is_terminal(ex_dbid: str) -> bool:
    """True when the execution has ended (or no longer exists)."""
    ex = Execution.objects(db_id=ex_dbid).only("status").first()
    return ex is None or ExecutionStatus(ex.status).terminal


def running_worker(ex_dbid: str) -> str:
    """The worker id running this execution, or "" when it is not RUNNING."""
    ex = Execution.objects(db_id=ex_dbid).only("status", "worker_id").first()
    if ex is None or ex.status != ExecutionStatus.RUNNING.value:
        return ""
    return str(ex.worker_id or "")


def claim(ex_dbid: str, worker_id: str) -> Execution | None:
    """Take an execution for a run by ``worker_id``: one atomic update that counts the attempt.

    None when it is terminal or unknown (a duplicate delivery: ack it without running). An
    execution that health ended as LOST is revived, since its message did turn up.
    """
    claimable = Q(status__nin=TERMINAL) | Q(outcome=ExecutionOutcome.LOST.value)
    return Execution.objects(Q(db_id=ex_dbid) & claimable).modify(
        new=True,
        set__worker_id=worker_id,
        inc__attempts=1,
        set__status=ExecutionStatus.SUBMITTED.value,
        unset__outcome=True,
        set__status_message="",
    )


def claim_fresh(ex_dbid: str, worker_id: str) -> Execution | None:
    """``claim`` in one round trip for the common case, an execution no worker has taken yet
    (SUBMITTED, no worker), with its attempt counted. None says only that it is not such an
    execution (a redelivery, a duplicate, an ended or unknown one): the caller then reads it
    and decides (``current``, ``claim``). Through pymongo, as ``start`` and ``complete``."""
    son = Execution._get_collection().find_one_and_update(
        {"_id": ex_dbid, "status": ExecutionStatus.SUBMITTED.value, "worker_id": {"$in": [None, ""]}},
        {"$set": {"worker_id": worker_id, "status_message": ""}, "$inc": {"attempts": 1}, "$unset": {"outcome": ""}},
        return_document=pymongo.ReturnDocument.AFTER,
    )
    return Execution._from_son(son) if son is not None else None


def current(ex_dbid: str) -> Execution | None:
    """The execution's ``status``, ``outcome``, ``worker_id`` and ``attempts`` only (None: unknown).
    (Read for every message a worker takes: through pymongo, without mongoengine's query building.)"""
    son = Execution._get_collection().find_one(
        {"_id": ex_dbid}, {"status": 1, "outcome": 1, "worker_id": 1, "attempts": 1}
    )
    return Execution._from_son(son) if son else None


def adopt(ex_dbid: str, from_worker: str, worker_id: str) -> Execution | None:
    """Hand an unfinished execution whose container outlived its worker (``from_worker``, as last
    read) to ``worker_id``, which will wait for that container and record its result: one
    conditional update, so two adopters (or an adopter and health) never both take it. The
    attempt is not counted: the container runs once. None when it is terminal or was taken."""
    return Execution.objects(db_id=ex_dbid, status__in=UNFINISHED, worker_id=from_worker).modify(
        new=True, set__worker_id=worker_id
    )


def start(ex_dbid: str) -> None:
    """The container is running. (This and ``complete`` run for every execution: they write
    through pymongo, whose documents have the same field names, without mongoengine's query
    building.)"""
    Execution._get_collection().update_one(
        {"_id": ex_dbid}, {"$set": {"status": ExecutionStatus.RUNNING.value, "start_time": utcnow()}}
    )


def complete(ex_dbid: str, done: Completion) -> bool:
    """The container exited: record its exit code, times, usage and final state (COMPLETE).

    Only an unfinished execution is completed (an execution ends once); False when it had ended.
    ``cpu_ns``/``io_bytes`` of None (not measured) are recorded as null."""
    now = utcnow()
    started = done.started_at or now
    # the engine's own clock may put the end a millisecond before the start: never so here
    finished = max(done.finished_at or now, started)
    values = {
        "status": ExecutionStatus.COMPLETE.value,
        "outcome": done.outcome.value,
        "exit_code": done.exit_code,
        "start_time": started,
        "finish_time": finished,
        "runtime": done.runtime_ms,
        "cpu": done.cpu_ns,
        "io": done.io_bytes,
        "final_state": {k: v for k, v in done.final_state.items() if k in FINAL_STATE_KEYS},
        "status_message": done.status_message,
        "limits": dict(done.limits),
    }
    updated = Execution._get_collection().update_one(
        {"_id": ex_dbid, "status": {"$in": list(UNFINISHED)}}, {"$set": values}
    )
    return updated.matched_count > 0


def _ended(outcome: ExecutionOutcome, reason: str) -> dict[str, object]:
    return {
        "set__status": ExecutionStatus.ERROR.value,
        "set__outcome": outcome.value,
        "set__status_message": reason,
        "set__finish_time": utcnow(),
    }


def end(
    ex_dbid: str, outcome: ExecutionOutcome, reason: str, dead_letter: bool = False, worker_id: str | None = None
) -> bool:
    """End an execution that did not run to an exit code (ERROR with ``outcome`` and ``reason``);
    with ``dead_letter``, in the same update, hold its message as a dead letter (``dead_letters``).

    Only an unfinished execution is ended (a COMPLETE one keeps its result), and with
    ``worker_id`` only while that worker still has it (not once another has adopted it).
    """
    update = _ended(outcome, reason)
    if dead_letter:
        update["set__dead_letter"] = DeadLetter.HELD.value
    match: dict[str, Any] = {"db_id": ex_dbid, "status__in": UNFINISHED}
    if worker_id is not None:
        match["worker_id"] = worker_id
    return bool(Execution.objects(**match).update_one(**update))


def end_pending(actor_dbid: str, reason: str) -> int:
    """End the actor's executions that no worker has claimed (their messages will never run:
    a purged mailbox, a deleted or failed actor)."""
    pending = Execution.objects(actor_dbid=actor_dbid, status=ExecutionStatus.SUBMITTED.value, worker_id="")
    return int(pending.update(**_ended(ExecutionOutcome.NOT_STARTED, reason)))


def end_lost(actor_dbid: str, cutoff: dt.datetime, reason: str) -> int:
    """End the actor's never-claimed executions received before ``cutoff`` as LOST."""
    lost = Execution.objects(
        actor_dbid=actor_dbid,
        status=ExecutionStatus.SUBMITTED.value,
        worker_id="",
        message_received_time__lt=cutoff,
    )
    return int(lost.update(**_ended(ExecutionOutcome.LOST, reason)))


def pending(actor_dbid: str, limit: int) -> list[Execution]:
    """The actor's first ``limit`` SUBMITTED executions, oldest first: the messages waiting in its
    mailbox (or being retried), read from their records without touching the mailbox."""
    qs = Execution.objects(actor_dbid=actor_dbid, status=ExecutionStatus.SUBMITTED.value)
    return list(qs.order_by("message_received_time", "db_id").limit(limit))


def page(actor_dbid: str, limit: int, skip: int) -> list[Execution]:
    """The actor's executions, newest first (stable: ties broken by key)."""
    if limit <= 0:
        return []
    qs = Execution.objects(actor_dbid=actor_dbid).order_by("-message_received_time", "-db_id")
    return list(qs.skip(skip).limit(limit))


def totals(actor_dbid: str) -> Totals:
    """Count and sums of cpu, io and runtime over all the actor's executions."""
    pipeline = [
        {"$match": {"actor_dbid": actor_dbid}},
        {
            "$group": {
                "_id": None,
                "count": {"$sum": 1},
                "cpu": {"$sum": "$cpu"},
                "io": {"$sum": "$io"},
                "runtime": {"$sum": "$runtime"},
            }
        },
    ]
    rows = list(Execution.objects.aggregate(pipeline))
    if not rows:
        return Totals()
    return Totals(**{k: int(rows[0][k]) for k in ("count", "cpu", "io", "runtime")})


def actors_with_unclaimed_before(cutoff: dt.datetime) -> list[str]:
    """Actor keys with executions never claimed by a worker and received before ``cutoff``."""
    qs = Execution.objects(status=ExecutionStatus.SUBMITTED.value, worker_id="", message_received_time__lt=cutoff)
    return sorted(qs.distinct("actor_dbid"))


def actors_with_unfinished(keep: Callable[[str], bool] | None = None) -> list[str]:
    """Actor keys that have SUBMITTED or RUNNING executions."""
    found = sorted(Execution.objects(status__in=UNFINISHED).distinct("actor_dbid"))
    return [a for a in found if keep is None or keep(a)]


def search(flt: dict[str, Any], order: tuple[str, ...], limit: int, skip: int) -> tuple[int, list[Execution]]:
    """``(total, page)`` of the executions matching a prepared filter (built by ``search.parse``)."""
    return find_page(Execution, flt, order, limit, skip)


def totals_by_actor(tenant: str) -> dict[str, Totals]:
    """Count and sums of cpu, io and runtime of the tenant's executions, per actor key (actors
    deleted since included: their execution records are kept)."""
    pipeline = [
        {"$match": {"tenant": tenant}},
        {
            "$group": {
                "_id": "$actor_dbid",
                "count": {"$sum": 1},
                "cpu": {"$sum": "$cpu"},
                "io": {"$sum": "$io"},
                "runtime": {"$sum": "$runtime"},
            }
        },
    ]
    return {
        row["_id"]: Totals(**{k: int(row[k]) for k in ("count", "cpu", "io", "runtime")})
        for row in Execution.objects.aggregate(pipeline)
    }


def count_by_status(tenant: str | None = None) -> dict[tuple[str, str], int]:
    """How many execution records there are per ``(status, outcome)`` (outcome "" while it has
    none), of one tenant (indexed) or of all (a scan of the collection)."""
    match = {"$match": {"tenant": tenant}} if tenant is not None else {"$match": {}}
    group = {"$group": {"_id": {"status": "$status", "outcome": "$outcome"}, "n": {"$sum": 1}}}
    counts: dict[tuple[str, str], int] = {}
    for row in Execution.objects.aggregate([match, group]):
        key = (str(row["_id"].get("status") or ""), str(row["_id"].get("outcome") or ""))
        counts[key] = counts.get(key, 0) + int(row["n"])
    return counts
