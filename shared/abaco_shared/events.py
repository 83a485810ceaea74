"""Actor and execution events (reference 3.6): built where they happen, published on the events
channel, delivered by the events agent (``python -m abaco_health.events``) to the actor's ``link``
and ``webhook``.

Only actors with a link or a webhook publish anything: every publish point already holds the
actor record, so for other actors an event costs one attribute test. A failed publish is logged
and never fails what it reports (an execution, a status change).

Every event carries ``tenant_id``, ``event_type``, ``event_time_utc`` (Unix seconds, as a string),
``event_time_display`` (the same instant, ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC), ``actor_id``,
``actor_dbid``, ``_abaco_link`` (the linked actor's key, ``""`` when none or when its alias no
longer resolves) and ``_abaco_webhook``, as the original's; plus, by type:

| event_type         | extra fields                                    | published by                   |
|--------------------|-------------------------------------------------|--------------------------------|
| ACTOR_READY        | status_message                                  | the actor's first worker up    |
| ACTOR_ERROR        | status_message (why)                            | whatever puts the actor in ERROR |
| EXECUTION_STARTED  | execution_id, status (RUNNING)                  | the worker, as the container starts |
| EXECUTION_COMPLETE | execution_id, status, exit_code, outcome        | the worker, once it is recorded |
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import time
from typing import Any

from .broker import Broker
from .channels import EventsChannel
from .enums import ActorStatus, ExecutionOutcome, ExecutionStatus
from .ids import is_id
from .lookup import actor_id_of
from .messages import EventMessage
from .models import Actor

__all__ = ["EventType", "EVENT_EXECUTOR", "wants_events", "link_key", "build_event", "EventPublisher"]

log = logging.getLogger(__name__)

EVENT_EXECUTOR = "Abaco Event"  # the executor and _abaco_username of what events send


class EventType(enum.StrEnum):
    ACTOR_READY = "ACTOR_READY"
    ACTOR_ERROR = "ACTOR_ERROR"
    EXECUTION_STARTED = "EXECUTION_STARTED"
    EXECUTION_COMPLETE = "EXECUTION_COMPLETE"


def wants_events(actor: Actor) -> bool:
    """True when the actor has somewhere to send its events (a link or a webhook)."""
    return bool(actor.link or actor.webhook)


def link_key(actor: Actor) -> str:
    """The key (``<tenant>_<id>``) of the actor that ``actor.link`` names, or ``""``.

    An id costs nothing; an alias is looked up (once per event, for linked actors only)."""
    if not actor.link:
        return ""
    target = actor.link if is_id(actor.link) else actor_id_of(actor.tenant, actor.link)
    return f"{actor.tenant}_{target}" if target else ""


def build_event(actor: Actor, event_type: EventType, now: float | None = None, **data: Any) -> dict[str, Any]:
    """The event dict of the original: common fields, then ``data`` (type-specific fields)."""
    stamp = time.time() if now is None else now
    display = dt.datetime.fromtimestamp(stamp, dt.UTC).replace(tzinfo=None)
    return {
        **data,
        "tenant_id": actor.tenant,
        "event_type": event_type.value,
        "event_time_utc": str(stamp),
        "event_time_display": str(display),
        "actor_id": actor.actor_id,
        "actor_dbid": actor.db_id,
        "_abaco_link": link_key(actor),
        "_abaco_webhook": actor.webhook or "",
    }


class EventPublisher:
    """Publishes an actor's events on the events channel (persistent, with publisher confirms).

    Each verb returns True when an event was published; it never raises."""

    def __init__(self, broker: Broker) -> None:
        self.channel = EventsChannel(broker)

    def actor_ready(self, actor: Actor) -> bool:
        return self.publish(actor, EventType.ACTOR_READY, status_message="")

    def actor_error(self, actor: Actor, reason: str) -> bool:
        return self.publish(actor, EventType.ACTOR_ERROR, status_message=reason)

    def execution_started(self, actor: Actor, execution_id: str) -> bool:
        return self.publish(
            actor, EventType.EXECUTION_STARTED, execution_id=execution_id, status=ExecutionStatus.RUNNING.value
        )

    def execution_complete(
        self, actor: Actor, execution_id: str, exit_code: int | None, outcome: ExecutionOutcome
    ) -> bool:
        return self.publish(
            actor,
            EventType.EXECUTION_COMPLETE,
            execution_id=execution_id,
            status=ExecutionStatus.COMPLETE.value,
            exit_code=exit_code,
            outcome=outcome.value,
        )

    def publish(self, actor: Actor, event_type: EventType, **data: Any) -> bool:
        """Publish one event of ``actor`` if it has a link or a webhook."""
        if not wants_events(actor) or actor.status == ActorStatus.SHUTTING_DOWN.value:
            return False
        extra = {"actor_id": actor.db_id, "event_type": event_type.value}
        try:
            event = build_event(actor, event_type, **data)
            if not event["_abaco_link"] and not event["_abaco_webhook"]:
                log.warning("event not published: the actor's link %r names no actor", actor.link, extra=extra)
                return False
            self.channel.publish(EventMessage(event=event))
        except Exception as exc:  # a boundary: an event is never worth failing what it reports
            log.warning("event not published: %s", exc, extra=extra)
            return False
        log.debug("event published", extra=extra)
        return True
