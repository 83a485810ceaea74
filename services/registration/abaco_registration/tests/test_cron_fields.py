"""cron_schedule and cron_on on POST and PUT /actors (reference 1.3, 3.8), through the WSGI app."""

import datetime as dt

import pytest

from abaco_shared.models import Actor, utcnow

from .test_app import IMAGE, app, call, create, dbid  # noqa: F401  (the app fixture)

FORMAT_HINT = "'<start> + <n> <unit>'"


def put(app, actor, **fields):  # noqa: F811
    return call(app, "PUT", f"/actors/{actor['id']}", json_body={"image": IMAGE, **fields})


def test_a_schedule_is_shown_with_its_next_slot_and_turns_cron_on(app):  # noqa: F811
    actor = create(app, cron_schedule="2030-01-31 09:30 + 1 month")

    assert (actor["cron_on"], actor["cron_schedule"]) == (True, "2030-01-31 09:30 + 1 month")
    assert (actor["cron_next_ex"], actor["cron_next_ex_time"]) == ("2030-1-31 9:30", "2030-01-31T09:30:00.000Z")
    assert actor["cron_missed"] == 0


def test_now_makes_the_current_minute_the_first_slot(app):  # noqa: F811
    before = utcnow().replace(second=0, microsecond=0)
    actor = create(app, cronSchedule="now + 1 minute")

    stored = Actor.objects.get(db_id=dbid(actor))
    assert stored.cron_on is True
    assert before <= stored.cron_next_time <= before + dt.timedelta(minutes=1)
    assert stored.cron_start == stored.cron_next_time


def test_an_actor_without_a_schedule_has_cron_off_and_no_next_slot(app):  # noqa: F811
    actor = create(app)

    assert (actor["cron_on"], actor["cron_schedule"], actor["cron_next_ex"], actor["cron_next_ex_time"]) == (
        False,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "schedule, why",
    [
        ("now + 1 year", "unknown unit 'year'"),
        ("now + 0 hours", "<n> must be a whole number from 1"),
        ("2030-13-01 10 + 1 hour", "is not a valid date and time (month must be in 1..12)"),
        ("2030-01-01 + 1 hour", "the start '2030-01-01' is not 'now', 'YYYY-MM-DD HH' or 'YYYY-MM-DD HH:MM'"),
        ("2020-01-01 10 + 1 hour", "the start '2020-01-01 10' is in the past"),
        ("every day", "is not of the form"),
    ],
)
def test_a_bad_schedule_is_a_400_naming_the_problem_and_the_format(app, schedule, why):  # noqa: F811
    reply = call(app, "POST", "/actors", json_body={"image": IMAGE, "cron_schedule": schedule})

    assert reply.status == 400
    assert reply.message.startswith(f"Invalid cron_schedule {schedule!r}")
    assert why in reply.message and FORMAT_HINT in reply.message
    assert Actor.objects.count() == 0


@pytest.mark.parametrize("off", ["False", "false", "0"])
def test_a_form_encoded_cron_on_false_keeps_a_new_schedule_off(app, off):  # noqa: F811
    reply = call(app, "POST", "/actors", form={"image": IMAGE, "cron_schedule": "now + 1 hour", "cron_on": off})

    assert reply.status == 200, reply.json
    assert (reply.result["cron_on"], reply.result["cron_schedule"]) == (False, "now + 1 hour")
    assert reply.result["cron_next_ex"] is not None  # the slots still advance, without runs


def test_a_put_toggles_cron_on_and_keeps_the_schedule_and_its_slot(app):  # noqa: F811
    actor = create(app, cron_schedule="2030-01-01 12 + 1 day")

    off = put(app, actor, cron_on=False).result
    on = call(app, "PUT", f"/actors/{actor['id']}", form={"cronOn": "True"}).result

    assert (off["cron_on"], off["cron_schedule"], off["cron_next_ex"]) == (
        False,
        "2030-01-01 12 + 1 day",
        "2030-1-1 12",
    )
    assert (on["cron_on"], on["cron_next_ex"]) == (True, "2030-1-1 12")


def test_a_put_changes_the_schedule_and_its_next_slot(app):  # noqa: F811
    actor = create(app, cron_schedule="2030-01-01 12 + 1 day")
    Actor.objects(db_id=dbid(actor)).update_one(set__cron_missed=4, set__cron_on=False)

    got = put(app, actor, cron_schedule="2031-06-01 08:15 + 2 weeks").result

    assert (got["cron_schedule"], got["cron_next_ex"], got["cron_on"], got["cron_missed"]) == (
        "2031-06-01 08:15 + 2 weeks",
        "2031-6-1 8:15",
        True,
        0,
    )


@pytest.mark.parametrize("cleared", [None, ""])
def test_a_put_clears_the_schedule(app, cleared):  # noqa: F811
    actor = create(app, cron_schedule="2030-01-01 12 + 1 day")

    got = put(app, actor, cron_schedule=cleared).result

    assert (got["cron_schedule"], got["cron_on"], got["cron_next_ex"], got["cron_next_ex_time"]) == (
        None,
        False,
        None,
        None,
    )
    assert Actor.objects.get(db_id=dbid(actor)).cron_next_time is None


def test_a_put_of_the_actors_own_fields_keeps_a_schedule_whose_start_is_now_past(app):  # noqa: F811
    """A client that GETs an actor and PUTs it back must not get a 400 for the start it once set."""
    actor = create(app, cron_schedule="2030-01-01 12 + 1 hour")
    Actor.objects(db_id=dbid(actor)).update_one(
        set__cron_schedule="2020-01-01 12 + 1 hour", set__cron_next_time=dt.datetime(2030, 5, 1, 7)
    )
    shown = call(app, "GET", f"/actors/{actor['id']}").result
    body = {k: shown[k] for k in ("image", "name", "cron_schedule", "cron_on", "cron_next_ex", "cron_missed")}

    reply = call(app, "PUT", f"/actors/{actor['id']}", json_body=body)

    assert reply.status == 200, reply.json
    assert Actor.objects.get(db_id=dbid(actor)).cron_next_time == dt.datetime(2030, 5, 1, 7)


def test_a_put_with_a_bad_new_schedule_changes_nothing(app):  # noqa: F811
    actor = create(app, cron_schedule="2030-01-01 12 + 1 day")

    reply = put(app, actor, cron_schedule="2030-01-01 12 + 1 eon")

    assert reply.status == 400 and "unknown unit 'eon'" in reply.message
    assert Actor.objects.get(db_id=dbid(actor)).cron_schedule == "2030-01-01 12 + 1 day"
