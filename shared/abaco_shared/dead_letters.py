"""Dead letters: the messages a worker gave up on, kept on their execution records.

A worker that cannot start a message's container after ``worker.max_attempts`` tries (or cannot
build it at all) ends the execution ERROR/NOT_STARTED and holds it as a dead letter
(``executions.end(..., dead_letter=True)``). The record already keeps what a re-send needs: the
message (for binary, its size and ``binary_ref``), its content type and parameters. This module
owns the ``dead_letter``/``resent_as`` fields of execution records; ``executions`` owns the rest.

    HELD --take--> RESENT (resent_as = the new execution)      --release--> HELD (the send failed)
    HELD --discard--> DISCARDED

Each transition is one conditional update, so two callers never re-send one letter twice.
"""

from __future__ import annotations

from .enums import DeadLetter
from .executions import key_for
from .models import Execution

__all__ = ["page", "get_held", "take", "mark_resent", "release", "discard"]


def page(actor_dbid: str, limit: int, skip: int) -> tuple[int, list[Execution]]:
    """``(total, page)`` of the actor's held dead letters, newest first (ties broken by key)."""
    qs = Execution.objects(actor_dbid=actor_dbid, dead_letter=DeadLetter.HELD.value)
    total = qs.count()
    if limit <= 0 or skip >= total:
        return total, []
    return total, list(qs.order_by("-message_received_time", "-db_id").skip(skip).limit(limit))


def get_held(actor_dbid: str, execution_id: str) -> Execution | None:
    """The held dead letter of that execution, or None (unknown, never dead, re-sent or discarded)."""
    return Execution.objects(db_id=key_for(actor_dbid, execution_id), dead_letter=DeadLetter.HELD.value).first()


def take(ex_dbid: str) -> Execution | None:
    """Claim a held dead letter for a re-send (HELD -> RESENT); None when it is no longer held."""
    return Execution.objects(db_id=ex_dbid, dead_letter=DeadLetter.HELD.value).modify(
        new=True, set__dead_letter=DeadLetter.RESENT.value
    )


def mark_resent(ex_dbid: str, execution_id: str) -> Execution | None:
    """Name the execution a taken dead letter was re-sent as; the letter as it is now."""
    return Execution.objects(db_id=ex_dbid, dead_letter=DeadLetter.RESENT.value).modify(
        new=True, set__resent_as=execution_id
    )


def release(ex_dbid: str) -> None:
    """Hold a taken dead letter again: its re-send was refused before anything was queued."""
    Execution.objects(db_id=ex_dbid, dead_letter=DeadLetter.RESENT.value, resent_as__exists=False).update_one(
        set__dead_letter=DeadLetter.HELD.value
    )


def discard(ex_dbid: str) -> bool:
    """Discard a held dead letter (HELD -> DISCARDED); False when it was not held."""
    return bool(
        Execution.objects(db_id=ex_dbid, dead_letter=DeadLetter.HELD.value).update_one(
            set__dead_letter=DeadLetter.DISCARDED.value
        )
    )
