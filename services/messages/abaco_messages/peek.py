"""A peek at an actor's mailbox: its next messages, read from their execution records.

RabbitMQ cannot show a queued message without taking it (a get, then a requeue, reorders the
queue and races the worker), so a peek reads the SUBMITTED executions instead: every queued
message has one, oldest first, with the message (or its size, for binary), its content type,
parameters and sender. Nothing is consumed.
"""

from __future__ import annotations

from typing import Any

from abaco_shared import executions
from abaco_shared.errors import ValidationError
from abaco_shared.models import Actor
from abaco_shared.views import pending_message_view

__all__ = ["MAX_PEEK", "parse_count", "pending_messages"]

MAX_PEEK = 100


def parse_count(raw: str | None) -> int | None:
    """``?count=N``: None when absent, else an integer from 1 to MAX_PEEK (400 otherwise)."""
    if raw is None:
        return None
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PEEK:
        raise ValidationError(f"Invalid count {raw[:20]!r}: an integer from 1 to {MAX_PEEK} is required.")
    return int(text)


def pending_messages(actor: Actor, count: int) -> list[dict[str, Any]]:
    """The actor's next ``count`` pending messages, oldest first, without consuming them."""
    return [pending_message_view(ex) for ex in executions.pending(actor.db_id, count)]
