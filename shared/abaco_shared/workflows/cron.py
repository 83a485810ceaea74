"""The cron pass (reference 3.8): run every actor whose next scheduled slot has come.

Health runs :func:`run_due` every few seconds on every host. For each actor whose next slot
(``cron_next_time``) is at or before now:

1. compute the next slot strictly after now, and how many slots came due since the stored one
   (more than one when no pass ran for a while, e.g. while health was down);
2. advance the stored slot with a conditional update (only if it is still the value read): of
   several health processes, exactly one wins the slot, and only the winner goes on;
3. with ``cron_on`` and an actor that accepts work, send ONE message through the same workflow as
   a POSTed one (``submit_message``: it records the execution and requests a worker if needed).

Nothing is lost silently: slots that came due while ``cron_on`` was set but did not run (passes
missed, the actor in ERROR, a message that could not be queued) are added to the actor's
``cron_missed`` and logged as a warning. ``cron_on=false`` advances without running; an actor being
deleted is only advanced. Each run is logged; an idle pass logs nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from .. import actors, cron
from ..auth import Principal
from ..broker import Broker
from ..enums import ActorStatus
from ..errors import AbacoError, ValidationError
from ..models import Actor, utcnow
from .mailbox import IncomingMessage, submit_message

__all__ = ["CronReport", "run_due", "CRON_MESSAGE", "CRON_USER"]

log = logging.getLogger(__name__)

CRON_MESSAGE = "This is your cron execution"  # the original's MSG, which actors may match on
CRON_USER = "cron"  # the execution's executor and the message's _abaco_username


@dataclass
class CronReport:
    """What one pass did, in slots."""

    ran: int = 0  # messages queued
    off: int = 0  # advanced without running: cron_on is false
    missed: int = 0  # came due while cron_on but did not run
    lost_race: int = 0  # another health process took the slot


def run_due(broker: Broker, api_server: str, now: dt.datetime | None = None) -> CronReport:
    """One cron pass at ``now`` (default: the current UTC time); see the module docstring."""
    now = now or utcnow()
    report = CronReport()
    for actor in actors.cron_due(now):
        try:
            _run_one(actor, broker, api_server, now, report)
        except AbacoError as exc:  # one actor's trouble never stops the pass for the others
            log.error("cron pass failed for an actor: %s", exc, extra={"actor_id": actor.db_id})
    return report


def _run_one(actor: Actor, broker: Broker, api_server: str, now: dt.datetime, report: CronReport) -> None:
    expected = actor.cron_next_time
    if expected is None:  # cleared since it was read
        return
    try:
        schedule = cron.period_of(actor.cron_schedule or "", actor.cron_start or expected)
    except ValidationError as exc:  # a stored schedule this version cannot read: stop, loudly
        if actors.advance_cron(actor.db_id, expected, None, None):
            log.warning("cron schedule dropped: %s", exc, extra={"actor_id": actor.db_id})
        return
    due, next_time = cron.due_slots(schedule, expected, now)
    runs = actor.cron_on and actors.accepts_work(actor)
    missed = 0
    if actor.cron_on and actor.status != ActorStatus.SHUTTING_DOWN.value:
        missed = due - 1 if runs else due
    if not actors.advance_cron(actor.db_id, expected, next_time, cron.display(next_time), missed):
        report.lost_race += 1
        return
    extra = {"actor_id": actor.db_id, "slot": cron.display(expected), "next": cron.display(next_time)}
    if missed:
        report.missed += missed
        log.warning(
            "cron: %d slot(s) of actor %s did not run (%s)",
            missed,
            actor.db_id,
            "passes were missed" if runs else f"the actor is {actor.status}",
            extra={**extra, "missed": missed},
        )
    if not actor.cron_on:
        report.off += due
        log.debug("cron slot advanced without a run: cron_on is off", extra=extra)
        return
    if not runs:
        if actor.status == ActorStatus.SHUTTING_DOWN.value:
            log.info("cron slot skipped: the actor is being deleted", extra=extra)
        return
    incoming = IncomingMessage(CRON_MESSAGE, "str", {"Time_msg_queued": f"{time.time():.6f}"})
    try:
        ex = submit_message(actor, Principal(CRON_USER, actor.tenant), incoming, broker, api_server)
    except AbacoError as exc:
        actors.count_cron_missed(actor.db_id, 1)
        report.missed += 1
        log.warning("cron: the slot of actor %s did not run: %s", actor.db_id, exc, extra={**extra, "missed": 1})
        return
    report.ran += 1
    log.info("cron execution queued", extra={**extra, "execution_id": ex.execution_id})
