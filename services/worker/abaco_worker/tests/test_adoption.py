"""A finished container is never run again: a redelivered message adopts the container its dead
worker left (waits for it or reads its result), and a result in hand survives a store outage."""

from __future__ import annotations

import os

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from abaco_shared import executions, logs
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.errors import DockerError
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Execution
from abaco_shared.retry import Disposition
from abaco_shared.testing import FakeRun

from .test_execution_runner import WID, Rig, build_rig, dead_pid, make_worker

pytestmark = pytest.mark.usefixtures("mongo")

DEAD = "W-dead"


@pytest.fixture
def rig(tmp_path, docker, redis_client) -> Rig:
    return build_rig(tmp_path, docker, redis_client, actor_values={"log_ex": 60})


def left_behind(rig: Rig, state="running", worker=DEAD, ex_status=ExecutionStatus.RUNNING, ends=None, **labels):
    """A message whose execution a worker (gone by default) claimed and whose container it started."""
    msg = rig.submit(worker_id=worker, attempts=1, status=ex_status.value)
    cid = rig.docker.add_container(
        {
            "abaco.install": "inst1",
            "abaco.actor": rig.actor.db_id,
            "abaco.worker": worker,
            "abaco.execution": msg.execution_id,
            "abaco.max_run_time": "60",
            **labels,
        },
        state=state,
        age=5,
        ends=ends,
    )
    return msg, cid


def runs(rig: Rig) -> int:
    return sum(1 for c in rig.docker.calls if c[0] == "run")


def test_a_redelivered_message_adopts_the_running_container_instead_of_running_another(rig):
    seen = {}

    def during(cid):
        seen["worker"] = rig.worker().status
        seen["state"] = (rig.runner.state.execution_id, rig.runner.state.container_id)

    msg, cid = left_behind(rig, ends=FakeRun(exit_code=0, logs="slept\n", runtime_ms=6000, during=during))

    assert rig.handle(msg) is Disposition.ACK
    assert runs(rig) == 0, "no second container"
    ex = rig.ex()
    assert ex.status == ExecutionStatus.COMPLETE and ex.outcome == ExecutionOutcome.SUCCESS
    assert ex.exit_code == 0 and ex.runtime == 6000
    assert ex.attempts == 1, "adoption is not an attempt"
    assert ex.worker_id == WID
    assert ex.cpu is None and ex.io is None, "not measured: the parent cgroup was the dead worker's"
    assert "Adopted by worker W1 after its worker W-dead was gone" in ex.status_message
    assert ex.limits["run_time"] == 60
    assert logs.text_of(ex.db_id) == "slept\n"
    assert rig.signalled() == ["1"]
    assert seen == {"worker": WorkerStatus.BUSY, "state": ("E1", cid)}
    # it waited for what is left of the container's limit (60 s, started 5 s ago)
    assert 50 <= rig.docker.wait_timeouts[cid] <= 56
    assert rig.worker().status == WorkerStatus.READY
    assert rig.runner.finished_container == cid
    rig.runner.remove_finished()
    assert cid not in rig.docker.containers


def test_an_exited_container_is_read_not_waited_for(rig):
    msg, cid = left_behind(rig, state="exited", ends=FakeRun(exit_code=3, logs="boom\n"))

    assert rig.handle(msg) is Disposition.ACK
    ex = rig.ex()
    assert (ex.status, ex.outcome, ex.exit_code) == (ExecutionStatus.COMPLETE, ExecutionOutcome.FAILED, 3)
    assert rig.docker.wait_timeouts[cid] is None
    assert runs(rig) == 0 and rig.docker.stopped == []


def test_a_container_whose_worker_died_before_saying_running_is_adopted(rig):
    msg, cid = left_behind(rig, ex_status=ExecutionStatus.SUBMITTED)
    assert rig.handle(msg) is Disposition.ACK
    assert rig.ex().status == ExecutionStatus.COMPLETE and runs(rig) == 0


def test_a_container_of_a_live_worker_is_left_to_it(rig):
    make_worker(rig.actor, "W-live", host_id="host-a", pid=os.getpid())
    msg, cid = left_behind(rig, worker="W-live", ex_status=ExecutionStatus.SUBMITTED)

    assert rig.handle(msg) is Disposition.RETRY
    assert rig.ex().worker_id == "W-live" and rig.ex().attempts == 1
    assert runs(rig) == 0 and ("wait", cid) not in rig.docker.calls


def test_a_container_a_live_worker_is_adopting_is_left_to_it(rig):
    make_worker(rig.actor, "W-adopter", host_id="host-a", pid=os.getpid())
    msg, cid = left_behind(rig, ex_status=ExecutionStatus.SUBMITTED)
    Execution.objects(db_id=rig.ex().db_id).update_one(set__worker_id="W-adopter")

    assert rig.handle(msg) is Disposition.RETRY
    assert rig.ex().worker_id == "W-adopter" and ("wait", cid) not in rig.docker.calls


def test_a_container_of_a_worker_whose_process_is_gone_is_adopted(rig):
    make_worker(rig.actor, "W-gone", host_id="host-a", pid=dead_pid())
    msg, cid = left_behind(rig, worker="W-gone")
    assert rig.handle(msg) is Disposition.ACK
    assert rig.ex().worker_id == WID and runs(rig) == 0


def test_a_container_that_never_started_is_removed_and_the_message_runs_once(rig):
    msg, cid = left_behind(rig, state="created", ex_status=ExecutionStatus.SUBMITTED)

    assert rig.handle(msg) is Disposition.ACK
    assert cid not in rig.docker.containers
    assert runs(rig) == 1
    assert rig.ex().attempts == 2 and rig.ex().outcome == ExecutionOutcome.SUCCESS


def test_a_message_never_claimed_costs_no_docker_lookup(rig, monkeypatch):
    looked = []
    monkeypatch.setattr(rig.docker, "list_labelled", lambda label: looked.append(label) or [])
    assert rig.handle(rig.submit()) is Disposition.ACK
    assert looked == [] and runs(rig) == 1


def test_another_actors_or_installs_container_is_not_adopted(rig):
    msg, _ = left_behind(rig, **{"abaco.install": "other"})
    assert rig.handle(msg) is Disposition.ACK
    assert runs(rig) == 1 and rig.ex().attempts == 2


def test_a_terminal_execution_is_acked_without_adopting(rig):
    msg, cid = left_behind(rig, state="exited")
    Execution.objects(db_id=rig.ex().db_id).update_one(set__status=ExecutionStatus.COMPLETE.value)
    assert rig.handle(msg) is Disposition.ACK
    assert ("wait", cid) not in rig.docker.calls and runs(rig) == 0


def test_an_execution_adopted_by_someone_else_meanwhile_is_not_adopted_twice(rig, monkeypatch):
    msg, cid = left_behind(rig)
    real = executions.adopt

    def raced(ex_dbid, from_worker, worker_id):
        assert real(ex_dbid, from_worker, "W-other") is not None  # another worker got there first
        return real(ex_dbid, from_worker, worker_id)

    monkeypatch.setattr(executions, "adopt", raced)
    assert rig.handle(msg) is Disposition.RETRY
    assert rig.ex().worker_id == "W-other" and ("wait", cid) not in rig.docker.calls


def test_force_quit_during_an_adoption_stops_the_adopted_container(rig):
    msg, cid = left_behind(rig, ends=FakeRun(exit_code=137, during=lambda c: rig.runner.force_quit("E1")))
    assert rig.handle(msg) is Disposition.ACK
    assert cid in rig.docker.stopped and rig.ex().outcome == ExecutionOutcome.FORCE_QUIT


def test_a_docker_failure_while_looking_hands_the_message_back(rig, monkeypatch):
    msg, _ = left_behind(rig)

    def broken(label):
        raise DockerError("engine down")

    monkeypatch.setattr(rig.docker, "list_labelled", broken)
    assert rig.handle(msg) is Disposition.RETRY
    assert runs(rig) == 0 and rig.ex().worker_id == DEAD


# -- a result in hand survives a store outage ---------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def outage_of(monkeypatch, failures: int):
    """executions.complete fails ``failures`` times as if MongoDB were down, then works."""
    real, left = executions.complete, [failures]

    def flaky(ex_dbid, done):
        if left[0] > 0:
            left[0] -= 1
            raise ServerSelectionTimeoutError("mongod is down")
        return real(ex_dbid, done)

    monkeypatch.setattr(executions, "complete", flaky)
    return left


def with_clock(rig: Rig, save_retry_for: float = 300.0) -> Clock:
    clock = Clock()
    rig.runner.clock, rig.runner.sleep, rig.runner.save_retry_for = clock, clock.sleep, save_retry_for
    return clock


def test_a_result_is_saved_after_the_store_comes_back_never_rerun(rig, monkeypatch):
    clock = with_clock(rig)
    outage_of(monkeypatch, 4)

    assert rig.handle(rig.submit()) is Disposition.ACK
    assert runs(rig) == 1
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0], "capped exponential back-off"
    ex = rig.ex()
    assert ex.status == ExecutionStatus.COMPLETE and ex.attempts == 1
    cid = rig.runner.finished_container
    assert cid, "removed only now, after the record"
    rig.runner.remove_finished()
    assert rig.docker.containers == {}


def test_a_store_away_too_long_keeps_the_container_and_the_redelivery_adopts_it(rig, monkeypatch):
    clock = with_clock(rig, save_retry_for=30)
    left = outage_of(monkeypatch, 1000)

    with pytest.raises(ServerSelectionTimeoutError):
        rig.handle(rig.submit())
    assert sum(clock.sleeps) == pytest.approx(30), "bounded by save_retry_for"
    assert max(clock.sleeps) <= 10
    (cid,) = rig.docker.containers
    assert rig.runner.finished_container == "", "kept for adoption, not removed"
    rig.runner.remove_finished()
    assert cid in rig.docker.containers
    assert rig.worker().status == WorkerStatus.READY

    left[0] = 0  # the store is back; the message comes back to the same worker
    assert rig.handle(_message("E1")) is Disposition.ACK
    assert runs(rig) == 1, "the container that ran is read, not run again"
    ex = rig.ex()
    assert ex.status == ExecutionStatus.COMPLETE and ex.attempts == 1
    assert "Adopted by worker W1 after its worker W1" in ex.status_message


def _message(ex_id: str) -> MailboxMessage:
    return MailboxMessage(execution_id=ex_id, content_type="str", message="hi")


def test_a_non_store_failure_to_record_still_removes_the_container(rig, monkeypatch):
    with_clock(rig)

    def broken(*args):
        raise RuntimeError("bug")

    monkeypatch.setattr(executions, "complete", broken)
    with pytest.raises(RuntimeError):
        rig.handle(rig.submit())
    assert rig.docker.containers == {}
