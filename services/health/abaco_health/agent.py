"""The events agent (``python -m abaco_health.events``): delivers actor events to links and webhooks.

Ack policy: an event is acked once each of its deliveries is settled, that is, its link message is
queued in the linked actor's mailbox and its webhook POST answered 2xx, or either was given up on
(see ``delivery``). An agent that dies before that gets the event again (at-least-once: a link
message queued just before a crash may be queued twice). Acks are made on the consuming thread:
deliveries settle on pool threads and hand their event back through a queue, drained before each
new event and whenever the queue is idle.

Tries run on a small pool (``events.threads``); a failed try is scheduled again after its back-off
instead of sleeping on a thread, so a webhook that keeps failing never holds up other events.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import EventsChannel
from abaco_shared.context import Context
from abaco_shared.errors import ConfigError, ValidationError
from abaco_shared.messages import EventMessage
from abaco_shared.runtime import EXIT_CONFIG
from abaco_shared.service import run_service
from abaco_shared.webhooks import WebhookKey, secret_for

from .delivery import Attempt, RetryPolicy, Verdict
from .links import LinkSender
from .webhooks import WebhookPoster, webhook_request

__all__ = ["EventsAgent", "Task", "Schedule", "main"]

log = logging.getLogger(__name__)

# runs a callable on a pool thread after a delay in seconds
Schedule = Callable[[Callable[[], None], float], None]


@dataclass(frozen=True)
class Task:
    """One delivery of one event: ``link`` or ``webhook``; ``send`` makes one try."""

    kind: str
    send: Callable[[], Attempt]


class _Pending:
    """An event's delivery until all its tasks are settled."""

    def __init__(self, delivery: Delivery, tasks: int, extra: dict[str, Any]) -> None:
        self.delivery = delivery
        self.remaining = tasks
        self.extra = extra


class EventsAgent:
    """Consumes the events channel; each event's link and webhook become tasks on the pool."""

    def __init__(
        self,
        broker: Broker,
        links: LinkSender,
        poster: WebhookPoster,
        key: WebhookKey,
        policy: RetryPolicy,
        schedule: Schedule,
        prefetch: int = 64,
    ) -> None:
        self.broker = broker
        self.links = links
        self.poster = poster
        self.key = key
        self.policy = policy
        self.schedule = schedule
        self.prefetch = prefetch
        self._settled: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        queues = [EventsChannel(self.broker).queue]
        log.info("events agent consuming %s", queues[0].name)
        self.broker.consume(queues, self.on_event, stop, prefetch=self.prefetch, on_idle=self.flush)

    def on_event(self, body: dict[str, Any], delivery: Delivery) -> None:
        """Consumer callback: start the deliveries of one event (its ack comes when they settle)."""
        self.flush()
        try:
            event = EventMessage.from_dict(body).event
        except ValidationError as exc:
            log.error("dropped an unreadable event: %s", exc)
            delivery.ack()
            return
        extra = {"actor_id": event["actor_dbid"], "event_type": event.get("event_type")}
        tasks = self.tasks_for(event)
        if not tasks:
            log.info("event has nowhere to go", extra=extra)
            delivery.ack()
            return
        pending = _Pending(delivery, len(tasks), extra)
        for task in tasks:
            self.schedule(self._runner(task, pending, 1), 0.0)

    def tasks_for(self, event: dict[str, Any]) -> list[Task]:
        tasks = []
        if event["_abaco_link"]:
            tasks.append(Task("link", lambda: self.links.send(event)))
        if event["_abaco_webhook"]:
            try:
                req = webhook_request(event, secret_for(self.key.value(), event["actor_dbid"]))
            except ConfigError as exc:  # no key, no signature: never POST unsigned
                log.error("webhook not sent: %s", exc, extra={"actor_id": event["actor_dbid"]})
            else:
                tasks.append(Task("webhook", lambda: self.poster.post(req)))
        return tasks

    def _runner(self, task: Task, pending: _Pending, tries: int) -> Callable[[], None]:
        return lambda: self._try(task, pending, tries)

    def _try(self, task: Task, pending: _Pending, tries: int) -> None:
        """One try of a task (on a pool thread); then settle it, or schedule the next try."""
        try:
            attempt = task.send()
        except Exception as exc:  # a boundary: the pool thread must live on; the try is retried
            log.exception("%s delivery crashed", task.kind, extra=pending.extra)
            attempt = Attempt(Verdict.RETRY, f"{type(exc).__name__}: {exc}")
        extra = {**pending.extra, "delivery": task.kind, "try": tries}
        delay = self.policy.next_delay(attempt, tries)
        if delay is not None:
            log.warning("%s delivery failed, next try in %.0f s: %s", task.kind, delay, attempt.detail, extra=extra)
            self.schedule(self._runner(task, pending, tries + 1), delay)
            return
        if attempt.verdict is Verdict.DELIVERED:
            log.info("%s delivered: %s", task.kind, attempt.detail, extra=extra)
        else:
            log.error("%s delivery given up: %s", task.kind, attempt.detail, extra=extra)
        with self._lock:
            pending.remaining -= 1
            done = pending.remaining == 0
        if done:
            self._settled.put(pending.delivery)

    def flush(self) -> None:
        """Ack the events whose deliveries are settled (on the consuming thread)."""
        while True:
            try:
                delivery = self._settled.get_nowait()
            except queue.Empty:
                return
            try:
                delivery.ack()
            except Exception as exc:  # its channel closed (a reconnect): the event comes again
                log.warning("could not ack a delivered event: %s", exc)


def scheduler_schedule(scheduler: BackgroundScheduler) -> Schedule:
    """A Schedule on an APScheduler: a one-off job per try, however late it runs."""

    def schedule(fn: Callable[[], None], delay: float) -> None:
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
        scheduler.add_job(fn, "date", run_date=when, misfire_grace_time=None)

    return schedule


def _run(ctx: Context, stop: threading.Event) -> int:
    cfg = ctx.cfg.events
    key = WebhookKey(cfg)
    try:
        key.value()  # made now if missing, so that a bad key stops the agent at once
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_CONFIG
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(cfg.threads)})
    agent = EventsAgent(
        ctx.broker,
        LinkSender(ctx.broker, ctx.cfg.general.api_server),
        WebhookPoster(cfg.webhook_timeout),
        key,
        RetryPolicy.from_config(cfg),
        scheduler_schedule(scheduler),
        cfg.prefetch,
    )
    scheduler.start()
    try:
        agent.run(stop)
    finally:
        scheduler.shutdown(wait=True)
    return 0


def main() -> int:
    return run_service("events", _run)
