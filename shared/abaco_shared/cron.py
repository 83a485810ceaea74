"""Cron schedules (reference 1.3, 3.8): parsing and slot arithmetic. Pure functions, UTC throughout.

A schedule is ``"<start> + <n> <unit>"``: ``<start>`` is ``now``, ``YYYY-MM-DD HH`` or
``YYYY-MM-DD HH:MM``; ``<unit>`` is minute, hour, day, week or month (singular or plural). Its
slots are ``start + k * n units`` for k = 0, 1, 2...; they are counted from the start, never from
the previous slot, so monthly slots clamp to the end of short months without drifting (Jan 31,
Feb 28, Mar 31...). ``now`` is the current minute, so ``now + 1 hour`` runs at once, then hourly.

Times are naive UTC datetimes, as the records keep them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import Any

from .errors import ValidationError

__all__ = [
    "Unit",
    "Schedule",
    "FORMAT_HELP",
    "MAX_EVERY",
    "parse_schedule",
    "period_of",
    "slot",
    "first_slot_after",
    "due_slots",
    "display",
    "schedule_fields",
]

MAX_EVERY = 10_000  # the largest <n>: 10,000 months is 833 years
FORMAT_HELP = (
    "expected '<start> + <n> <unit>' where <start> is 'now', 'YYYY-MM-DD HH' or 'YYYY-MM-DD HH:MM' (UTC), "
    f"<n> a whole number from 1 to {MAX_EVERY} and <unit> minute(s), hour(s), day(s), week(s) or month(s), "
    "e.g. 'now + 1 hour' or '2030-01-31 09:30 + 1 month'"
)
_SHAPE = re.compile(r"^\s*(?P<start>.*?)\s*\+\s*(?P<every>\S+)\s+(?P<unit>\S+)\s*$")
_START = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})\s+(\d{1,2})(?::(\d{2}))?$")


class Unit(enum.StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


_STEP = {
    Unit.MINUTE: dt.timedelta(minutes=1),
    Unit.HOUR: dt.timedelta(hours=1),
    Unit.DAY: dt.timedelta(days=1),
    Unit.WEEK: dt.timedelta(weeks=1),
}


@dataclass(frozen=True)
class Schedule:
    """Slots ``start + k * every unit`` (k >= 0)."""

    start: dt.datetime
    every: int
    unit: Unit


def _invalid(text: str, why: str) -> ValidationError:
    return ValidationError(f"Invalid cron_schedule {text!r}: {why}; {FORMAT_HELP}.")


def _split(text: str) -> tuple[str, int, Unit]:
    """``(start text, n, unit)`` of a schedule; ValidationError saying what is wrong."""
    shape = _SHAPE.match(text)
    if shape is None or not shape["start"]:
        raise _invalid(text, "it is not of the form '<start> + <n> <unit>'")
    every, unit = shape["every"], shape["unit"].lower()
    if not re.fullmatch(r"[0-9]{1,9}", every) or not 1 <= int(every) <= MAX_EVERY:
        raise _invalid(text, f"<n> must be a whole number from 1 to {MAX_EVERY}, not {every!r}")
    try:
        return shape["start"], int(every), Unit(unit.removesuffix("s"))
    except ValueError:
        raise _invalid(text, f"unknown unit {shape['unit']!r}") from None


def _parse_start(text: str, start: str, now: dt.datetime) -> dt.datetime:
    """The first slot: ``now`` (the current minute), or a date and hour (and minute) not in the past."""
    current_minute = now.replace(second=0, microsecond=0)
    if start.lower() == "now":
        return current_minute
    match = _START.match(start)
    if match is None:
        raise _invalid(text, f"the start {start!r} is not 'now', 'YYYY-MM-DD HH' or 'YYYY-MM-DD HH:MM'")
    year, month, day, hour, minute = match.groups()
    try:
        when = dt.datetime(int(year), int(month), int(day), int(hour), int(minute or 0))
    except ValueError as exc:
        raise _invalid(text, f"the start {start!r} is not a valid date and time ({exc})") from None
    # the hour (or minute) under way is not past: "2030-01-01 12" may be set until 12:59
    floor = current_minute if minute is not None else current_minute.replace(minute=0)
    if when < floor:
        it_is = current_minute.strftime("%Y-%m-%d %H:%M")
        raise _invalid(text, f"the start {start!r} is in the past (it is now {it_is} UTC); use a later one or 'now'")
    return when


def parse_schedule(text: str, now: dt.datetime) -> Schedule:
    """Parse a schedule given at ``now``; ValidationError (400) naming what is wrong and the format."""
    start_text, every, unit = _split(text)
    schedule = Schedule(_parse_start(text, start_text, now), every, unit)
    try:
        slot(schedule, 1)
    except OverflowError:
        raise _invalid(text, "its slots run past the year 9999") from None
    return schedule


def period_of(text: str, start: dt.datetime) -> Schedule:
    """A stored schedule with its start as resolved when it was set (``now`` is not re-read)."""
    _, every, unit = _split(text)
    return Schedule(start, every, unit)


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus calendar months, the day clamped to the end of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise OverflowError("date out of range")
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def slot(schedule: Schedule, k: int) -> dt.datetime:
    """The k-th slot (k >= 0); OverflowError past the year 9999."""
    if schedule.unit is Unit.MONTH:
        return _add_months(schedule.start, k * schedule.every)
    return schedule.start + k * schedule.every * _STEP[schedule.unit]


def first_slot_after(schedule: Schedule, moment: dt.datetime) -> int:
    """The index of the first slot strictly after ``moment``."""
    if moment < schedule.start:
        return 0
    if schedule.unit is Unit.MONTH:
        months = (moment.year - schedule.start.year) * 12 + moment.month - schedule.start.month
        k = max(0, months // schedule.every)  # never past the answer; at most two steps below it
    else:
        k = (moment - schedule.start) // (schedule.every * _STEP[schedule.unit])
    while slot(schedule, k) <= moment:
        k += 1
    return k


def due_slots(schedule: Schedule, next_time: dt.datetime, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """``(how many slots are due, the next slot strictly after now)`` for a pass at ``now`` whose
    record says the next slot is ``next_time``: 0 when ``next_time`` is still ahead, more than 1
    when passes were missed. The next slot is None when it would lie past the year 9999."""
    if next_time > now:
        return 0, next_time
    try:
        k = first_slot_after(schedule, now)
        return k - first_slot_after(schedule, next_time) + 1, slot(schedule, k)
    except OverflowError:  # the schedule ends: run the due slot, there is no next one
        return 1, None


def display(moment: dt.datetime | None) -> str | None:
    """The original's ``cron_next_ex`` form, ``Y-M-D H`` (unpadded), with ``:MM`` when the minute is not 0."""
    if moment is None:
        return None
    text = f"{moment.year}-{moment.month}-{moment.day} {moment.hour}"
    return f"{text}:{moment.minute:02d}" if moment.minute else text


def schedule_fields(
    schedule: str | None, stored: str | None, cron_on: bool | None, now: dt.datetime, creating: bool
) -> dict[str, Any]:
    """The actor fields a POST or PUT sets for its ``cron_schedule`` and ``cron_on``.

    ``schedule`` is the body's value after a PUT's merge (the stored one when left out), ``stored``
    the actor's (None on POST), ``cron_on`` the body's value or None when it was left out.
    A new schedule is parsed (its start may not be past) and its first slot becomes the next one;
    it turns ``cron_on`` on unless the body sets it. An empty one clears the schedule (and turns
    ``cron_on`` off unless the body sets it). An unchanged one is kept as it is: re-sending an
    actor's own fields never moves its slots nor fails on a start now past.
    """
    out: dict[str, Any] = {} if cron_on is None else {"cron_on": cron_on}
    schedule = (schedule or "").strip() or None
    if not creating and schedule == ((stored or "").strip() or None):
        return out
    if schedule is None:
        return {"cron_on": False, **out, **_derived(None), "cron_schedule": None}
    parsed = parse_schedule(schedule, now)
    return {"cron_on": True, **out, **_derived(parsed.start), "cron_schedule": schedule}


def _derived(first: dt.datetime | None) -> dict[str, Any]:
    return {
        "cron_start": first,
        "cron_next_time": first,
        "cron_next_ex": display(first),
        "cron_missed": 0,
    }
