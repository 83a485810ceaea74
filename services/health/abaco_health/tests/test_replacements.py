"""Health after outages: every actor that had a worker gets one again (idle or not), and a pass
that meets a store outage ends quietly, saying so once per outage."""

from __future__ import annotations

import logging

import pymongo.errors
import pytest

from abaco_health.checks import HealthChecker
from abaco_health.tests.test_checks import CFG, DEAD_PID, LIVE_PID, make_worker, new_actor, spawn_commands
from abaco_shared import channels, workers
from abaco_shared.config import HostConfig
from abaco_shared.enums import WorkerStatus
from abaco_shared.errors import ChannelError
from abaco_shared.workflows import scaling


@pytest.fixture
def checker(mongo, broker, docker):
    return HealthChecker(CFG, HostConfig(host_id="h1"), broker, docker, install_id="i1")


def replacement_of(actor):
    [worker] = workers.list_for_actor(actor.db_id)
    return worker


def test_an_idle_actor_whose_worker_died_gets_a_new_one(checker, broker):
    actor = new_actor()
    make_worker(actor, WorkerStatus.READY, pid=DEAD_PID)  # nothing waits in its mailbox

    report = checker.reap()

    assert (report.dead, report.restarted) == (1, 1)
    new = replacement_of(actor)
    assert new.status == WorkerStatus.REQUESTED
    assert [c["worker_id"] for c in spawn_commands(broker)] == [new.worker_id]
    assert checker.bereaved == set()


def test_a_worker_asked_to_stop_is_not_replaced(checker, broker):
    actor = new_actor()
    make_worker(actor, WorkerStatus.SHUTDOWN_REQUESTED, pid=DEAD_PID)

    assert checker.reap().restarted == 0
    assert workers.list_for_actor(actor.db_id) == [] and spawn_commands(broker) == []


def test_an_actor_with_another_worker_gets_no_replacement(checker, broker):
    actor = new_actor()
    make_worker(actor, WorkerStatus.READY, pid=DEAD_PID)
    alive = make_worker(actor, WorkerStatus.READY, pid=LIVE_PID)

    assert checker.reap().restarted == 0
    assert [w.worker_id for w in workers.list_for_actor(actor.db_id)] == [alive.worker_id]


def test_a_replacement_is_asked_for_again_until_the_broker_takes_it(checker, broker, monkeypatch, caplog):
    actor = new_actor()
    make_worker(actor, WorkerStatus.BUSY, pid=DEAD_PID)
    real_request = scaling.request_worker

    def broker_down(*args, **kwargs):
        raise ChannelError("cannot publish to command_channel_default: [Errno 111] Connection refused")

    monkeypatch.setattr(scaling, "request_worker", broker_down)
    slots = iter(range(1000))
    monkeypatch.setattr(scaling, "claim_slot", lambda: str(next(slots)))  # a new slot each pass
    with caplog.at_level(logging.INFO, logger="abaco_health.checks"):
        for _ in range(4):  # a broker outage: passes that cannot request it
            checker.reap()
        assert checker.bereaved == {actor.db_id}, "the actor is remembered across passes"
        assert workers.list_for_actor(actor.db_id) == []

        monkeypatch.setattr(scaling, "request_worker", real_request)  # the broker is back
        assert checker.reap().restarted == 1
    assert replacement_of(actor).status == WorkerStatus.REQUESTED and checker.bereaved == set()
    lines = [r.getMessage() for r in caplog.records if "reap pass" in r.getMessage() and r.name.endswith("checks")]
    outage = [line for line in lines if "cannot reach" in line or "connected again" in line]
    assert len(outage) == 2 and "cannot reach RabbitMQ" in outage[0], lines


def test_a_reap_pass_during_a_mongodb_outage_ends_quietly(checker, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")

    monkeypatch.setattr(workers, "live_on_host", down)
    for _ in range(5):
        assert checker.reap().dead == 0
    assert checker.ping() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # one for the reap job, one for the ping job
    assert all("cannot reach MongoDB" in w for w in warnings)


def test_ping_stops_at_the_first_broker_outage_and_says_so_once(checker, monkeypatch, caplog):
    actor = new_actor()
    for _ in range(3):
        make_worker(actor, WorkerStatus.READY, pid=LIVE_PID)

    def refuse(self, command, execution_id=""):
        raise ChannelError("cannot publish to worker_x: [Errno 111] Connection refused")

    monkeypatch.setattr(channels.WorkerChannel, "send", refuse)
    for _ in range(3):
        assert checker.ping() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot reach RabbitMQ" in warnings[0], warnings
