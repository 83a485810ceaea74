"""LiveLogs: a running container's output copied to its logs record; dead letters of give-ups."""

from __future__ import annotations

import threading
import time

import pytest

from abaco_shared import executions, logs
from abaco_shared.config import ConfigError, load_config
from abaco_shared.enums import DeadLetter, ExecutionOutcome, ExecutionStatus
from abaco_shared.testing import FakeDocker, FakeRun
from abaco_worker.confinement import RunLimits
from abaco_worker.live_logs import LiveLogs

from .test_execution_runner import build_rig

CAP = 100


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine() -> FakeDocker:
    engine = FakeDocker()
    engine.containers["c1"] = {"Id": "c1", "Labels": {}, "State": "running"}
    return engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live(engine, clock) -> LiveLogs:
    return LiveLogs(engine, CAP, interval=1.0, clock=clock)


def watched(live: LiveLogs, saved: list[str]) -> None:
    live._thread = threading.current_thread()  # tests drive copy_due themselves: no thread
    live.watch("c1", saved.append)


def test_nothing_is_read_before_the_container_has_run_an_interval(live, engine, clock):
    saved: list[str] = []
    watched(live, saved)
    engine.outputs["c1"] = "early\n"
    clock.now += 0.4
    assert live.copy_due() == pytest.approx(0.6)
    assert saved == []


def test_a_copy_every_interval_only_when_the_output_changed(live, engine, clock):
    saved: list[str] = []
    watched(live, saved)
    for output in ("one\n", "one\n", "one\ntwo\n"):
        engine.outputs["c1"] = output
        clock.now += 1.0
        assert live.copy_due() == 1.0
    assert saved == ["one\n", "one\ntwo\n"]


def test_no_copy_after_unwatch_even_one_read_before(live, engine, clock):
    saved: list[str] = []
    watched(live, saved)
    clock.now += 1.0

    def exits_while_read(cid, limit):  # the container exits while its output is being read
        live.unwatch()
        return "partial\n"

    engine.logs = exits_while_read
    assert live.copy_due() == 0.0
    assert saved == [] and live.copy_due() is None


def test_output_at_the_cap_is_copied_once_then_no_more(engine, clock):
    live = LiveLogs(engine, 10, interval=1.0, clock=clock)
    saved: list[str] = []
    watched(live, saved)
    engine.logs = lambda cid, limit: "0123456789\n[LOG LIMIT EXCEEDED: output truncated]\n"
    clock.now += 1.0
    assert live.copy_due() is None
    assert len(saved) == 1 and live.copy_due() is None


def test_a_container_gone_from_the_engine_keeps_the_last_copy(live, engine, clock):
    saved: list[str] = []
    watched(live, saved)
    engine.outputs["c1"] = "one\n"
    clock.now += 1.0
    live.copy_due()
    del engine.containers["c1"]
    clock.now += 1.0
    assert live.copy_due() == 1.0 and saved == ["one\n"]


def test_off_costs_nothing(engine):
    live = LiveLogs(engine, CAP, interval=0)
    live.watch("c1", lambda text: pytest.fail("saved"))
    live.unwatch()
    assert live._thread is None and live.copy_due() is None


def test_the_thread_copies_while_the_container_runs(engine):
    live = LiveLogs(engine, CAP, interval=0.02)
    saved: list[str] = []
    engine.outputs["c1"] = "tick\n"
    live.watch("c1", saved.append)
    deadline = time.monotonic() + 10
    while not saved:
        assert time.monotonic() < deadline, "no copy was made"
        time.sleep(0.01)
    live.unwatch()
    live.close()
    live._thread.join(5)
    assert saved[0] == "tick\n" and not live._thread.is_alive()


# -- through the runner --------------------------------------------------------------------------
def test_the_runner_copies_a_long_run_and_saves_the_final_output_last(mongo, tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client)
    rig.runner.live_logs = LiveLogs(docker, RunLimits().max_log_length, interval=0.02)
    seen: list[str] = []

    def running(cid):
        docker.outputs[cid] = "tick 1\n"
        deadline = time.monotonic() + 10
        while not logs.text_of(rig.ex().db_id):
            assert time.monotonic() < deadline, "no copy while running"
            time.sleep(0.01)
        seen.append(logs.text_of(rig.ex().db_id))
        assert rig.ex().status == ExecutionStatus.RUNNING

    docker.runs.append(FakeRun(logs="tick 1\ntick 2\n", during=running))
    rig.handle(rig.submit())
    time.sleep(0.1)  # a late copy, if the runner let one through, would land here

    assert seen == ["tick 1\n"]
    assert logs.text_of(rig.ex().db_id) == "tick 1\ntick 2\n"


def test_a_runner_without_live_logs_reads_nothing_while_running(mongo, tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client)
    assert not rig.runner.live_logs.enabled
    docker.runs.append(FakeRun(logs="done\n"))
    rig.handle(rig.submit())
    assert logs.text_of(rig.ex().db_id) == "done\n" and rig.runner.live_logs._thread is None


def test_a_message_given_up_on_is_a_dead_letter(mongo, tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client, max_attempts=2)
    docker.runs.extend([FakeRun(error="image gone")] * 2)
    msg = rig.submit()
    rig.handle(msg)
    rig.handle(msg)
    ex = rig.ex()
    assert (ex.status, ex.outcome, ex.dead_letter) == ("ERROR", ExecutionOutcome.NOT_STARTED, DeadLetter.HELD)
    assert ex.message == "hi" and "image gone" in ex.status_message


def test_a_failed_run_is_not_a_dead_letter(mongo, tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client)
    docker.runs.append(FakeRun(exit_code=3))
    rig.handle(rig.submit())
    assert (rig.ex().outcome, rig.ex().dead_letter) == (ExecutionOutcome.FAILED, None)
    assert executions.get(rig.actor.db_id, "E1").status == ExecutionStatus.COMPLETE


def test_the_interval_is_never_negative():
    assert load_config(env={}).worker.live_log_interval == 1.0
    with pytest.raises(ConfigError, match="live_log_interval"):
        load_config(env={"ABACO__WORKER__LIVE_LOG_INTERVAL": "-1"})
