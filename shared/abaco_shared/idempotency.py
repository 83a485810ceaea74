"""Idempotent submission: an ``Idempotency-Key`` makes a repeated POST of a message answer the
first execution instead of running the message again (a client retrying after a lost answer).

A key belongs to one actor and one sender (tenant and user) and is remembered for a window
(``http.idempotency_window``, default 24 h). It is given as the ``Idempotency-Key`` header or,
for clients that cannot set headers, the query parameter :data:`KEY_PARAM` (never passed to the
container). Keys are 1 to 255 characters: letters, digits and ``. _ : + / = -`` (a UUID fits).

Race-free by insert-first: the first request inserts the key's record (its id a digest of actor,
sender and key, so MongoDB's unique ``_id`` lets exactly one insert win), naming the execution it
is about to record, then records the execution and marks the key RECORDED (a compare-and-set).
A repeat's insert fails; it reads the record and answers the execution it names, waiting up to
:data:`FIRST_WAIT` seconds while the first request is between its two writes.

    first:   insert key (PENDING, E1) -> record execution E1 -> key RECORDED -> queue E1
    repeat:  insert fails             -> read key -> RECORDED -> answer E1 (200, same id)

Failure guarantees:
- the first request cannot queue its message (a 503): the key is released, so a retry runs it;
- the first request dies, or stalls past :data:`FIRST_WAIT`, before its key is RECORDED: a repeat
  takes the key over (PENDING E1 -> PENDING E2, compare-and-set) and runs the message itself; a
  stalled first request then finds its key taken, ends E1 unrun and answers E2: one execution;
- the same key with another message (body, content type or parameters) is a 409, never a replay;
- a key past its window is forgotten: a new request takes it over (MongoDB's TTL index removes
  the record later).
A first request that dies after its key is RECORDED but before the message is queued leaves an
execution that never runs: repeats answer it, and health ends it as lost (``health.lost_after``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from mongoengine import DateTimeField, Document, NotUniqueError, StringField

from . import executions
from .auth import Principal
from .enums import ExecutionOutcome
from .errors import Conflict, ValidationError
from .models import Actor, Execution, utcnow

__all__ = [
    "KEY_HEADER",
    "KEY_PARAM",
    "FIRST_WAIT",
    "IdempotencyKey",
    "IdempotencyRecord",
    "Admission",
    "parse_key",
    "fingerprint",
    "admit",
    "superseded",
    "release",
]

KEY_HEADER = "Idempotency-Key"
KEY_PARAM = "_abaco_idempotency_key"
FIRST_WAIT = 5.0  # seconds a repeat waits for the first request to record its execution
POLL = 0.05
MAX_ROUNDS = 5  # takeovers lost to concurrent repeats before a 409
# parameters that say how to answer, not what to run: the same message may be repeated with them
ANSWER_PARAMS = frozenset({"_abaco_synchronous"})
_KEY = re.compile(r"[A-Za-z0-9._:+/=-]{1,255}")
PENDING = "PENDING"
RECORDED = "RECORDED"


class IdempotencyRecord(Document):
    """One Idempotency-Key of one sender for one actor, and the execution it stands for."""

    meta = {
        "collection": "idempotency_keys",
        "indexes": [{"fields": ["expires_at"], "expireAfterSeconds": 0}],  # gone after its window
    }

    db_id = StringField(primary_key=True)  # a digest of actor, sender and key (record_id)
    actor_dbid = StringField(required=True)
    tenant = StringField(required=True)
    sender = StringField(required=True)
    key = StringField(required=True)
    execution_id = StringField(required=True)
    state = StringField(required=True, choices=[PENDING, RECORDED])
    fingerprint = StringField(required=True)
    create_time = DateTimeField(default=utcnow)
    expires_at = DateTimeField(required=True)


@dataclass(frozen=True)
class IdempotencyKey:
    """The key a request carries, and how long it is remembered (seconds)."""

    value: str
    window: int


@dataclass(frozen=True)
class Admission:
    """What a keyed submission does: record and queue ``execution_id`` (``replay`` None), or
    answer ``replay``, the execution of the first request with this key."""

    record_id: str
    execution_id: str
    replay: Execution | None = None


def parse_key(header: str | None, param: str | None, window: int) -> IdempotencyKey | None:
    """The request's key (header or query parameter), or None; a ValidationError (400) for a key
    that is malformed, or given twice with two values."""
    given = {v for v in (header, param) if v is not None}
    if not given:
        return None
    if len(given) > 1:
        raise ValidationError(f"The {KEY_HEADER} header and the {KEY_PARAM} parameter differ; give one key.")
    value = given.pop()
    if not _KEY.fullmatch(value):
        raise ValidationError(
            f"Invalid {KEY_HEADER}: 1 to 255 characters of letters, digits and . _ : + / = - (a UUID, for example)."
        )
    return IdempotencyKey(value, window)


def fingerprint(content_type: str, message: Any, params: dict[str, str], content: str = "") -> str:
    """A digest of what a request asks to run, to tell a repeat from another message
    (``content``: the SHA-256 of a binary message's bytes)."""
    digest = hashlib.sha256(content_type.encode())
    digest.update(b"\0")
    if isinstance(message, bytes | bytearray | memoryview):
        digest.update(b"b")
        digest.update(message)
    else:
        digest.update(b"j")
        digest.update(json.dumps(message, sort_keys=True, default=repr).encode())
    run_params = {k: v for k, v in params.items() if k not in ANSWER_PARAMS}
    digest.update(b"\0" + json.dumps(run_params, sort_keys=True).encode())
    if content:
        digest.update(b"\0c" + content.encode())
    return digest.hexdigest()


def record_id(actor_dbid: str, sender: Principal, key: str) -> str:
    return hashlib.sha256("\0".join((actor_dbid, sender.tenant, sender.user, key)).encode()).hexdigest()


def admit(actor: Actor, sender: Principal, key: IdempotencyKey, digest: str, execution_id: str) -> Admission:
    """Claim ``key`` for a new execution ``execution_id``, or find the first request's execution.

    Raises Conflict (409) when the key was used for another message, or when concurrent repeats
    keep taking it over from each other (:data:`MAX_ROUNDS`).
    """
    rid = record_id(actor.db_id, sender, key.value)
    for _ in range(MAX_ROUNDS):
        now = utcnow()
        expires = now + dt.timedelta(seconds=key.window)
        try:
            IdempotencyRecord(
                db_id=rid,
                actor_dbid=actor.db_id,
                tenant=sender.tenant,
                sender=sender.user,
                key=key.value,
                execution_id=execution_id,
                state=PENDING,
                fingerprint=digest,
                create_time=now,
                expires_at=expires,
            ).save(force_insert=True)
            return Admission(rid, execution_id)
        except NotUniqueError:
            pass
        record = IdempotencyRecord.objects(db_id=rid).first()
        if record is None:  # released or expired meanwhile: insert again
            continue
        if record.expires_at <= now:  # past its window: forgotten
            if _take_over(record, execution_id, digest, expires, state=None):
                return Admission(rid, execution_id)
            continue
        if record.fingerprint != digest:
            raise Conflict(
                f"The {KEY_HEADER} {key.value!r} was already used for another message to this actor; "
                "use a new key for a new message."
            )
        first, record = _recorded(record, time.monotonic() + FIRST_WAIT)
        if first is not None:
            return Admission(rid, first.execution_id, replay=first)
        # its first request died or stalls (PENDING), or its execution is gone (RECORDED)
        if _take_over(record, execution_id, digest, expires, state=record.state):
            return Admission(rid, execution_id)
    raise Conflict(f"The {KEY_HEADER} {key.value!r} is in use by concurrent requests; try again.")


def _recorded(record: IdempotencyRecord, deadline: float) -> tuple[Execution | None, IdempotencyRecord]:
    """The execution of a key once its first request has recorded it, or None (not recorded by
    ``deadline``, or recorded but gone), with the record as last read. A key that changes hands
    meanwhile ends the wait too: taking it over then fails, and the caller reads it again."""
    while True:
        if record.state == RECORDED:
            return executions.get(record.actor_dbid, record.execution_id), record
        if time.monotonic() >= deadline:
            return None, record
        time.sleep(POLL)
        fresh = IdempotencyRecord.objects(db_id=record.db_id).first()
        if fresh is None or fresh.execution_id != record.execution_id:
            return None, record
        record = fresh


def _take_over(
    record: IdempotencyRecord, execution_id: str, digest: str, expires: dt.datetime, state: str | None
) -> bool:
    """Give the key to a new execution (PENDING), if it still names the execution it named (and
    is still in ``state``): of concurrent takers, one wins."""
    query: dict[str, Any] = {"db_id": record.db_id, "execution_id": record.execution_id}
    if state is not None:
        query["state"] = state
    return bool(
        IdempotencyRecord.objects(**query).update_one(
            set__execution_id=execution_id,
            set__state=PENDING,
            set__fingerprint=digest,
            set__create_time=utcnow(),
            set__expires_at=expires,
        )
    )


def superseded(admission: Admission, ex: executions.ExecutionRef) -> Execution | None:
    """Mark the key RECORDED now that its execution ``ex`` is; None when that worked. Else a
    repeat took the key over while this request stalled: ``ex`` is ended unrun and the repeat's
    execution is returned, to be answered instead (a Conflict if it does not appear in time)."""
    if IdempotencyRecord.objects(
        db_id=admission.record_id, execution_id=admission.execution_id, state=PENDING
    ).update_one(set__state=RECORDED):
        return None
    reason = f"A repeat of its request (same {KEY_HEADER}) ran instead."
    executions.end(ex.db_id, ExecutionOutcome.NOT_STARTED, reason)
    record = IdempotencyRecord.objects(db_id=admission.record_id).first()
    taker = _recorded(record, time.monotonic() + FIRST_WAIT)[0] if record is not None else None
    if taker is None:
        raise Conflict(f"The {KEY_HEADER} of this request is in use by concurrent requests; try again.")
    return taker


def release(admission: Admission) -> None:
    """Forget the key (its message was not queued), unless it names another execution by now."""
    IdempotencyRecord.objects(db_id=admission.record_id, execution_id=admission.execution_id).delete()
