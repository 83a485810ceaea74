"""Cron schedules (abaco_shared.cron): parsing, slot arithmetic, the fields a POST or PUT sets."""

import datetime as dt

import pytest

from abaco_shared import cron
from abaco_shared.cron import Schedule, Unit
from abaco_shared.errors import ValidationError

NOW = dt.datetime(2024, 5, 1, 14, 37, 12, 345000)
MINUTE = dt.datetime(2024, 5, 1, 14, 37)


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts)


# -- parse_schedule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, start, every, unit",
    [
        ("now + 1 minute", MINUTE, 1, Unit.MINUTE),
        ("now + 5 minutes", MINUTE, 5, Unit.MINUTE),
        ("now + 1 hour", MINUTE, 1, Unit.HOUR),
        ("Now + 2 Hours", MINUTE, 2, Unit.HOUR),
        ("2024-05-01 14 + 3 days", at(2024, 5, 1, 14), 3, Unit.DAY),  # the hour under way is not past
        ("2024-05-01 14:37 + 1 day", MINUTE, 1, Unit.DAY),  # nor is the minute under way
        ("2024-5-2 9 + 1 week", at(2024, 5, 2, 9), 1, Unit.WEEK),  # the original took unpadded numbers
        ("2030-01-31 09:30 + 1 month", at(2030, 1, 31, 9, 30), 1, Unit.MONTH),
        ("  2030-01-31 09:30  +  2   months ", at(2030, 1, 31, 9, 30), 2, Unit.MONTH),
        ("now + 10000 weeks", MINUTE, 10000, Unit.WEEK),
    ],
)
def test_a_schedule_parses_into_its_first_slot_and_period(text, start, every, unit):
    assert cron.parse_schedule(text, NOW) == Schedule(start, every, unit)


@pytest.mark.parametrize(
    "text, why",
    [
        ("every day", "it is not of the form '<start> + <n> <unit>'"),
        ("now + 1", "it is not of the form"),
        (" + 1 hour", "it is not of the form"),
        ("now + 1 year", "unknown unit 'year'"),
        ("now + 1 fortnights", "unknown unit 'fortnights'"),
        ("now + 0 hours", "<n> must be a whole number from 1 to 10000, not '0'"),
        ("now + -1 hour", "<n> must be a whole number from 1 to 10000, not '-1'"),
        ("now + 1.5 hours", "not '1.5'"),
        ("now + 10001 minutes", "not '10001'"),
        ("tomorrow + 1 hour", "the start 'tomorrow' is not 'now', 'YYYY-MM-DD HH' or 'YYYY-MM-DD HH:MM'"),
        ("2030-01-01 + 1 hour", "the start '2030-01-01' is not"),
        ("2030-13-01 10 + 1 hour", "is not a valid date and time (month must be in 1..12)"),
        ("2030-02-30 10 + 1 day", "is not a valid date and time (day is out of range for month)"),
        ("2030-01-01 24 + 1 day", "is not a valid date and time (hour must be in 0..23)"),
        ("2030-01-01 10:60 + 1 day", "is not a valid date and time (minute must be in 0..59)"),
        ("2024-05-01 13 + 1 hour", "the start '2024-05-01 13' is in the past (it is now 2024-05-01 14:37 UTC)"),
        ("2024-05-01 14:36 + 1 minute", "is in the past (it is now 2024-05-01 14:37 UTC)"),
        ("9999-12-31 23 + 1 month", "its slots run past the year 9999"),
    ],
)
def test_a_bad_schedule_is_a_400_saying_what_is_wrong_and_the_format(text, why):
    with pytest.raises(ValidationError) as err:
        cron.parse_schedule(text, NOW)

    message = str(err.value)
    assert err.value.http_status == 400
    assert message.startswith(f"Invalid cron_schedule {text!r}: ")
    assert why in message
    assert "'<start> + <n> <unit>'" in message and "'YYYY-MM-DD HH:MM'" in message and "minute(s)" in message


def test_a_stored_schedule_keeps_the_start_it_was_given():
    assert cron.period_of("now + 2 days", at(2020, 1, 1, 8)) == Schedule(at(2020, 1, 1, 8), 2, Unit.DAY)


# -- slots -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit, every, third",
    [
        (Unit.MINUTE, 5, at(2030, 1, 31, 9, 45)),
        (Unit.HOUR, 2, at(2030, 1, 31, 15, 30)),
        (Unit.DAY, 1, at(2030, 2, 3, 9, 30)),
        (Unit.WEEK, 2, at(2030, 3, 14, 9, 30)),
        (Unit.MONTH, 1, at(2030, 4, 30, 9, 30)),
        (Unit.MONTH, 12, at(2033, 1, 31, 9, 30)),
    ],
)
def test_every_unit_adds_its_length(unit, every, third):
    assert cron.slot(Schedule(at(2030, 1, 31, 9, 30), every, unit), 3) == third


def test_months_clamp_to_the_end_of_short_months_without_drifting():
    schedule = Schedule(at(2031, 1, 31, 12), 1, Unit.MONTH)

    slots = [cron.slot(schedule, k) for k in range(5)]

    assert [s.day for s in slots] == [31, 28, 31, 30, 31]  # never stuck on the 28th
    assert cron.slot(Schedule(at(2032, 1, 31), 1, Unit.MONTH), 1) == at(2032, 2, 29)  # leap year
    assert cron.slot(Schedule(at(2030, 11, 30), 3, Unit.MONTH), 1) == at(2031, 2, 28)  # across a year


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(at(2030, 1, 31, 9, 30), 1, Unit.MINUTE),
        Schedule(at(2030, 1, 31, 9, 30), 7, Unit.HOUR),
        Schedule(at(2030, 1, 31, 9, 30), 3, Unit.DAY),
        Schedule(at(2030, 1, 31, 9, 30), 1, Unit.WEEK),
        Schedule(at(2030, 1, 31, 9, 30), 1, Unit.MONTH),
        Schedule(at(2030, 1, 31, 9, 30), 5, Unit.MONTH),
    ],
)
def test_the_first_slot_after_a_moment_is_strictly_after_it_and_the_one_before_is_not(schedule):
    for moment in [schedule.start - dt.timedelta(days=1)] + [
        cron.slot(schedule, k) + delta
        for k in range(0, 30)
        for delta in (dt.timedelta(0), dt.timedelta(seconds=1), -dt.timedelta(seconds=1))
    ]:
        k = cron.first_slot_after(schedule, moment)
        assert cron.slot(schedule, k) > moment
        assert k == 0 or cron.slot(schedule, k - 1) <= moment


def test_a_slot_far_in_the_future_is_computed_without_stepping_through_every_one():
    schedule = Schedule(at(2024, 1, 1), 1, Unit.MINUTE)

    assert cron.first_slot_after(schedule, at(2124, 1, 1)) == 36_524 * 1440 + 1  # a century of minutes, + 1


# -- due_slots -------------------------------------------------------------------------------


def test_nothing_is_due_before_the_next_slot():
    schedule = Schedule(at(2030, 1, 1, 10), 1, Unit.HOUR)

    assert cron.due_slots(schedule, at(2030, 1, 1, 10), at(2030, 1, 1, 9, 59, 59)) == (0, at(2030, 1, 1, 10))


@pytest.mark.parametrize(
    "now, due, following",
    [
        (at(2030, 1, 1, 10), 1, at(2030, 1, 1, 11)),  # on the slot itself
        (at(2030, 1, 1, 10, 0, 9), 1, at(2030, 1, 1, 11)),  # a pass a few seconds late
        (at(2030, 1, 1, 10, 59), 1, at(2030, 1, 1, 11)),
        (at(2030, 1, 1, 11), 2, at(2030, 1, 1, 12)),  # one pass missed
        (at(2030, 1, 1, 15, 30), 6, at(2030, 1, 1, 16)),  # health down for five hours
    ],
)
def test_due_slots_counts_every_slot_up_to_now_and_gives_the_next_one(now, due, following):
    schedule = Schedule(at(2030, 1, 1, 8), 1, Unit.HOUR)

    assert cron.due_slots(schedule, at(2030, 1, 1, 10), now) == (due, following)


def test_due_monthly_slots_keep_their_day():
    schedule = Schedule(at(2030, 1, 31, 9, 30), 1, Unit.MONTH)

    assert cron.due_slots(schedule, at(2030, 2, 28, 9, 30), at(2030, 4, 2)) == (2, at(2030, 4, 30, 9, 30))


def test_a_schedule_that_runs_out_of_years_has_no_next_slot():
    schedule = Schedule(at(9999, 11, 30), 1, Unit.MONTH)

    assert cron.due_slots(schedule, at(9999, 12, 30), at(9999, 12, 31)) == (1, None)


# -- display ---------------------------------------------------------------------------------


def test_the_next_slot_is_shown_in_the_originals_form_with_minutes_only_when_needed():
    assert cron.display(at(2030, 3, 5, 7)) == "2030-3-5 7"
    assert cron.display(at(2030, 3, 5, 7, 5)) == "2030-3-5 7:05"
    assert cron.display(None) is None


# -- schedule_fields -------------------------------------------------------------------------


def fields(schedule, stored=None, cron_on=None, creating=True):
    return cron.schedule_fields(schedule, stored, cron_on, NOW, creating)


def test_a_new_schedule_turns_cron_on_and_its_first_slot_is_the_next():
    assert fields("2030-01-01 12 + 1 hour") == {
        "cron_on": True,
        "cron_schedule": "2030-01-01 12 + 1 hour",
        "cron_start": at(2030, 1, 1, 12),
        "cron_next_time": at(2030, 1, 1, 12),
        "cron_next_ex": "2030-1-1 12",
        "cron_missed": 0,
    }


def test_now_makes_the_current_minute_the_first_slot():
    got = fields("now + 1 minute")

    assert (got["cron_next_time"], got["cron_next_ex"], got["cron_on"]) == (MINUTE, "2024-5-1 14:37", True)


def test_a_new_schedule_with_cron_on_false_stays_off():
    assert fields("now + 1 hour", cron_on=False)["cron_on"] is False


def test_a_post_without_a_schedule_has_cron_off_and_nothing_scheduled():
    got = fields(None)

    assert (got["cron_on"], got["cron_schedule"], got["cron_next_time"], got["cron_next_ex"]) == (
        False,
        None,
        None,
        None,
    )


def test_a_put_that_keeps_the_schedule_moves_nothing_even_when_its_start_is_past():
    stored = "2020-01-01 00 + 1 day"

    assert fields(stored, stored, creating=False) == {}
    assert fields(stored, stored, cron_on=False, creating=False) == {"cron_on": False}


def test_a_put_that_changes_the_schedule_restarts_it():
    got = fields("now + 2 hours", "2030-01-01 00 + 1 day", creating=False)

    assert (got["cron_schedule"], got["cron_next_time"], got["cron_missed"], got["cron_on"]) == (
        "now + 2 hours",
        MINUTE,
        0,
        True,
    )


@pytest.mark.parametrize("cleared", [None, "", "  "])
def test_a_put_that_clears_the_schedule_turns_cron_off(cleared):
    got = fields(cleared, "now + 1 hour", creating=False)

    assert got == {
        "cron_on": False,
        "cron_schedule": None,
        "cron_start": None,
        "cron_next_time": None,
        "cron_next_ex": None,
        "cron_missed": 0,
    }


def test_a_put_with_a_bad_new_schedule_is_refused():
    with pytest.raises(ValidationError, match="unknown unit 'years'"):
        fields("now + 1 years", "now + 1 hour", creating=False)
