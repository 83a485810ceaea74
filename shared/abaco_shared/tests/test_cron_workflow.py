"""The cron pass (abaco_shared.workflows.cron) over mongomock records and a memory:// broker."""

import datetime as dt
import logging

import pytest

from abaco_shared import actors, cron, workers
from abaco_shared.channels import CommandChannel, MailboxChannel
from abaco_shared.enums import ActorStatus
from abaco_shared.errors import ChannelError, ChannelTimeout
from abaco_shared.messages import MailboxMessage, SpawnCommand
from abaco_shared.models import Actor, Execution
from abaco_shared.workflows import cron as cron_pass
from abaco_shared.workflows.cron import CRON_MESSAGE, CronReport, run_due

API = "https://api.test"
IMAGE = "abaco/echo:latest"
NOW = dt.datetime(2030, 1, 1, 10, 0, 7)  # a pass a few seconds after the 10:00 slot
HOUR = dt.timedelta(hours=1)


# -- helpers ---------------------------------------------------------------------------------


def drain(broker, queue):
    bodies = []
    while True:
        try:
            bodies.append(broker.get(queue, 0))
        except ChannelTimeout:
            return bodies


def scheduled(schedule="2029-12-31 00 + 1 hour", next_time=dt.datetime(2030, 1, 1, 10), cron_on=True, **values):
    """A READY actor on ``schedule`` whose next slot is ``next_time``."""
    start = dt.datetime(2029, 12, 31)
    fields = cron.schedule_fields(schedule, None, cron_on, start, creating=True)
    actor = actors.create("dev", "alice", {"image": IMAGE, **fields, **values})
    Actor.objects(db_id=actor.db_id).update_one(
        set__status=values.get("status", ActorStatus.READY.value),
        set__cron_next_time=next_time,
        set__cron_next_ex=cron.display(next_time),
    )
    return actors.get(actor.db_id)


def executions_of(actor):
    return list(Execution.objects(actor_dbid=actor.db_id))


def mailbox(broker, actor):
    return [MailboxMessage.from_dict(b) for b in drain(broker, MailboxChannel(broker, actor.db_id).queue)]


def spawns(broker):
    return [SpawnCommand.from_dict(b) for b in drain(broker, CommandChannel(broker, "default").queue)]


# -- a due slot ------------------------------------------------------------------------------


def test_a_due_slot_sends_one_cron_message_through_the_mailbox_workflow(mongo, broker):
    actor = scheduled()

    report = run_due(broker, API, NOW)

    assert report == CronReport(ran=1)
    [ex] = executions_of(actor)
    assert (ex.executor, ex.message, ex.content_type) == ("cron", CRON_MESSAGE, "str")
    [mail] = mailbox(broker, actor)
    assert (mail.execution_id, mail.message, mail.executor) == (ex.execution_id, CRON_MESSAGE, "cron")
    assert mail.env["_abaco_username"] == "cron"
    assert mail.env["_abaco_Content_Type"] == "str"
    assert float(mail.env["Time_msg_queued"]) > 0
    assert [s.actor_dbid for s in spawns(broker)] == [actor.db_id]  # a worker for the cold start


def test_a_due_slot_advances_to_the_next_slot_strictly_after_now(mongo, broker):
    actor = scheduled()

    run_due(broker, API, NOW)

    stored = actors.get(actor.db_id)
    assert (stored.cron_next_time, stored.cron_next_ex, stored.cron_missed) == (
        dt.datetime(2030, 1, 1, 11),
        "2030-1-1 11",
        0,
    )


def test_a_slot_not_yet_due_does_nothing_and_logs_nothing(mongo, broker, caplog):
    actor = scheduled(next_time=NOW + dt.timedelta(seconds=1))

    with caplog.at_level(logging.DEBUG, logger="abaco_shared.workflows.cron"):
        report = run_due(broker, API, NOW)

    assert report == CronReport()
    assert executions_of(actor) == [] and caplog.records == []
    assert actors.get(actor.db_id).cron_next_time == NOW + dt.timedelta(seconds=1)


def test_an_actor_without_a_schedule_is_never_looked_at(mongo, broker):
    actor = actors.create("dev", "alice", {"image": IMAGE})

    assert run_due(broker, API, NOW) == CronReport()
    assert executions_of(actor) == []


def test_each_run_is_logged_once(mongo, broker, caplog):
    actor = scheduled()

    with caplog.at_level(logging.INFO, logger="abaco_shared.workflows.cron"):
        run_due(broker, API, NOW)

    [record] = caplog.records
    assert record.getMessage() == "cron execution queued"
    assert (record.actor_id, record.slot, record.next) == (actor.db_id, "2030-1-1 10", "2030-1-1 11")


def test_minute_slots_run_every_minute(mongo, broker):
    actor = scheduled("2029-12-31 00:00 + 1 minute", next_time=dt.datetime(2030, 1, 1, 10))

    for second in (5, 35, 65, 95, 125):
        run_due(broker, API, dt.datetime(2030, 1, 1, 10) + dt.timedelta(seconds=second))

    assert len(executions_of(actor)) == 3  # 10:00, 10:01, 10:02
    assert actors.get(actor.db_id).cron_next_time == dt.datetime(2030, 1, 1, 10, 3)


# -- missed slots ----------------------------------------------------------------------------


def test_missed_slots_run_once_and_are_counted_on_the_actor_and_logged(mongo, broker, caplog):
    actor = scheduled(next_time=dt.datetime(2030, 1, 1, 7))  # 7:00, 8:00, 9:00 and 10:00 came due

    with caplog.at_level(logging.WARNING, logger="abaco_shared.workflows.cron"):
        report = run_due(broker, API, NOW)

    assert report == CronReport(ran=1, missed=3)
    assert len(executions_of(actor)) == 1
    stored = actors.get(actor.db_id)
    assert (stored.cron_missed, stored.cron_next_time) == (3, dt.datetime(2030, 1, 1, 11))
    [warning] = caplog.records
    assert actor.db_id in warning.getMessage() and "3 slot(s)" in warning.getMessage()
    assert warning.missed == 3


def test_the_missed_count_adds_up_over_passes(mongo, broker):
    actor = scheduled(next_time=dt.datetime(2030, 1, 1, 8))

    run_due(broker, API, NOW)  # 8:00, 9:00 missed
    run_due(broker, API, NOW + 3 * HOUR)  # 11:00, 12:00 missed

    assert actors.get(actor.db_id).cron_missed == 4
    assert len(executions_of(actor)) == 2


# -- cron_on false, ERROR, SHUTTING_DOWN ---------------------------------------------------


def test_cron_off_advances_without_running_or_counting(mongo, broker):
    actor = scheduled(cron_on=False, next_time=dt.datetime(2030, 1, 1, 8))

    report = run_due(broker, API, NOW)

    assert report == CronReport(off=3)
    assert executions_of(actor) == [] and mailbox(broker, actor) == []
    stored = actors.get(actor.db_id)
    assert (stored.cron_next_time, stored.cron_missed) == (dt.datetime(2030, 1, 1, 11), 0)


def test_an_actor_in_error_does_not_run_its_slot_is_advanced_counted_and_logged(mongo, broker, caplog):
    actor = scheduled(status=ActorStatus.ERROR.value)

    with caplog.at_level(logging.WARNING, logger="abaco_shared.workflows.cron"):
        report = run_due(broker, API, NOW)

    assert report == CronReport(missed=1)
    assert executions_of(actor) == [] and spawns(broker) == []
    stored = actors.get(actor.db_id)
    assert (stored.cron_next_time, stored.cron_missed) == (dt.datetime(2030, 1, 1, 11), 1)
    assert "the actor is ERROR" in caplog.records[0].getMessage()


def test_an_actor_being_deleted_does_not_run_and_is_only_advanced(mongo, broker, caplog):
    actor = scheduled(status=ActorStatus.SHUTTING_DOWN.value)

    with caplog.at_level(logging.INFO, logger="abaco_shared.workflows.cron"):
        report = run_due(broker, API, NOW)

    assert report == CronReport()
    assert executions_of(actor) == []
    assert actors.get(actor.db_id).cron_next_time == dt.datetime(2030, 1, 1, 11)
    assert "being deleted" in caplog.records[0].getMessage()


# -- the conditional advance -----------------------------------------------------------------


def test_two_passes_at_once_run_a_slot_only_once(mongo, broker, monkeypatch):
    """Two health processes read the same due actor; only the first to advance it runs it."""
    actor = scheduled()
    stale = actors.cron_due(NOW)  # what the second process read before the first advanced
    monkeypatch.setattr(cron_pass.actors, "cron_due", lambda now: [a for a in stale])

    first, second = run_due(broker, API, NOW), run_due(broker, API, NOW)

    assert (first, second) == (CronReport(ran=1), CronReport(lost_race=1))
    assert len(executions_of(actor)) == 1
    assert actors.get(actor.db_id).cron_missed == 0


def test_a_second_pass_at_the_same_time_finds_nothing_due(mongo, broker):
    actor = scheduled()

    run_due(broker, API, NOW)

    assert run_due(broker, API, NOW) == CronReport()
    assert len(executions_of(actor)) == 1


def test_a_put_that_moved_the_slot_since_it_was_read_wins(mongo, broker, monkeypatch):
    actor = scheduled()
    stale = actors.cron_due(NOW)
    Actor.objects(db_id=actor.db_id).update_one(set__cron_next_time=dt.datetime(2031, 1, 1))
    monkeypatch.setattr(cron_pass.actors, "cron_due", lambda now: stale)

    assert run_due(broker, API, NOW) == CronReport(lost_race=1)
    assert actors.get(actor.db_id).cron_next_time == dt.datetime(2031, 1, 1)


# -- failures --------------------------------------------------------------------------------


def test_a_message_that_cannot_be_queued_is_counted_as_missed_not_lost_silently(mongo, broker, monkeypatch, caplog):
    actor = scheduled()

    def refuse(*args, **kwargs):
        raise ChannelError("the broker is away")

    monkeypatch.setattr(cron_pass, "submit_message", refuse)
    with caplog.at_level(logging.WARNING, logger="abaco_shared.workflows.cron"):
        report = run_due(broker, API, NOW)

    assert report == CronReport(missed=1)
    stored = actors.get(actor.db_id)
    assert (stored.cron_missed, stored.cron_next_time) == (1, dt.datetime(2030, 1, 1, 11))
    assert "the broker is away" in caplog.records[0].getMessage()


def test_one_actors_trouble_does_not_stop_the_pass(mongo, broker, monkeypatch):
    first, second = scheduled(), scheduled()
    real = cron_pass.submit_message
    calls = []

    def flaky(actor, *args):
        calls.append(actor.db_id)
        if len(calls) == 1:
            raise ChannelError("once")
        return real(actor, *args)

    monkeypatch.setattr(cron_pass, "submit_message", flaky)

    assert run_due(broker, API, NOW) == CronReport(ran=1, missed=1)
    assert sorted(calls) == sorted([first.db_id, second.db_id])


def test_a_stored_schedule_that_cannot_be_read_is_dropped_with_a_warning(mongo, broker, caplog):
    actor = scheduled()
    Actor.objects(db_id=actor.db_id).update_one(set__cron_schedule="every day")

    with caplog.at_level(logging.WARNING, logger="abaco_shared.workflows.cron"):
        assert run_due(broker, API, NOW) == CronReport()

    assert actors.get(actor.db_id).cron_next_time is None
    assert "cron schedule dropped" in caplog.records[0].getMessage()


@pytest.mark.parametrize("status", [ActorStatus.SUBMITTED, ActorStatus.READY])
def test_an_actor_with_a_worker_already_gets_no_second_one(mongo, broker, status):
    actor = scheduled(status=status.value)
    workers.create_requested(actor, "w1")

    run_due(broker, API, NOW)

    assert len(executions_of(actor)) == 1 and spawns(broker) == []
