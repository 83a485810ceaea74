"""Health leaves a dead worker's container for the worker that adopts its execution, removes it
once the execution has ended, and ends (then removes) one nobody adopts or whose actor is gone."""

from __future__ import annotations

import pytest

from abaco_health.checks import HealthChecker
from abaco_shared import executions
from abaco_shared.config import HealthConfig, HostConfig
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.models import Actor, Execution
from abaco_shared.testing import FakeDocker

from .test_checks import LIVE_PID, make_worker, new_actor, submit

GRACE = 100


@pytest.fixture
def checker(mongo, broker, docker):
    return HealthChecker(HealthConfig(adoption_grace=GRACE), HostConfig(host_id="h1"), broker, docker, "i1")


@pytest.fixture
def actor(mongo):
    return new_actor()


def left_container(docker: FakeDocker, actor: Actor, ex_dbid: str, worker_id="W-gone", age=0.0, run_time="60"):
    execution_id = ex_dbid.rpartition("_")[2]
    labels = {
        "abaco.install": "i1",
        "abaco.actor": actor.db_id,
        "abaco.worker": worker_id,
        "abaco.execution": execution_id,
        "abaco.max_run_time": run_time,
    }
    return docker.add_container(labels, age=age)


def status(ex_dbid: str) -> tuple[str, str | None]:
    ex = executions.get_by_key(ex_dbid)
    return ex.status, ex.outcome


@pytest.mark.parametrize("ex_status", [ExecutionStatus.RUNNING, ExecutionStatus.SUBMITTED])
def test_a_container_of_an_unfinished_execution_is_left_for_adoption(checker, actor, docker, ex_status):
    ex_dbid = submit(actor, worker_id="W-gone", status=ex_status)
    cid = left_container(docker, actor, ex_dbid)

    assert checker.reap().orphans == 0
    assert cid in docker.containers
    assert status(ex_dbid)[0] == ex_status


def test_it_is_removed_once_its_execution_has_ended(checker, actor, docker):
    ex_dbid = submit(actor, worker_id="W-gone", status=ExecutionStatus.RUNNING)
    cid = left_container(docker, actor, ex_dbid)
    checker.reap()
    Execution.objects(db_id=ex_dbid).update_one(set__status=ExecutionStatus.COMPLETE.value)

    assert checker.reap().orphans == 1
    assert cid not in docker.containers


def test_an_adopted_container_stays_even_past_its_limit(checker, actor, docker):
    adopter = make_worker(actor, WorkerStatus.BUSY, pid=LIVE_PID)
    ex_dbid = submit(actor, worker_id=adopter.worker_id, status=ExecutionStatus.RUNNING)
    cid = left_container(docker, actor, ex_dbid, age=60 + GRACE + 50)

    assert checker.reap().orphans == 0
    assert cid in docker.containers and status(ex_dbid)[0] == ExecutionStatus.RUNNING


def test_one_nobody_adopts_within_its_limit_plus_grace_is_ended_and_removed(checker, actor, docker):
    old = submit(actor, worker_id="W-gone", status=ExecutionStatus.RUNNING)
    young = submit(actor, worker_id="W-gone", status=ExecutionStatus.RUNNING)
    old_cid = left_container(docker, actor, old, age=60 + GRACE + 5)
    young_cid = left_container(docker, actor, young, age=60 + GRACE - 20)

    assert checker.reap().orphans == 1
    assert old_cid not in docker.containers and young_cid in docker.containers
    assert status(old) == (ExecutionStatus.ERROR, ExecutionOutcome.TIMED_OUT)
    assert "no worker adopted it" in executions.get_by_key(old).status_message
    assert status(young)[0] == ExecutionStatus.RUNNING


def test_one_whose_actor_is_gone_is_ended_and_removed(checker, actor, docker):
    ex_dbid = submit(actor, worker_id="W-gone", status=ExecutionStatus.RUNNING)
    cid = left_container(docker, actor, ex_dbid)
    Actor.objects(db_id=actor.db_id).delete()

    assert checker.reap().orphans == 1
    assert cid not in docker.containers
    assert status(ex_dbid) == (ExecutionStatus.ERROR, ExecutionOutcome.FORCE_QUIT)


def test_the_safety_net_never_ends_an_execution_adopted_meanwhile(checker, actor, docker, monkeypatch):
    ex_dbid = submit(actor, worker_id="W-gone", status=ExecutionStatus.RUNNING)
    cid = left_container(docker, actor, ex_dbid, age=60 + GRACE + 5)
    real = executions.current

    def adopted_after_the_read(key):
        seen = real(key)
        executions.adopt(key, "W-gone", "W-adopter")  # a worker adopts it between read and end
        return seen

    monkeypatch.setattr(executions, "current", adopted_after_the_read)
    assert checker.reap().orphans == 0
    assert cid in docker.containers
    assert status(ex_dbid)[0] == ExecutionStatus.RUNNING


def test_containers_without_an_execution_label_or_record_go_as_before(checker, actor, docker):
    bare = docker.add_container({"abaco.install": "i1", "abaco.actor": actor.db_id, "abaco.worker": "W-gone"})
    unknown = left_container(docker, actor, f"{actor.db_id}_NOPE")

    assert checker.reap().orphans == 2
    assert bare not in docker.containers and unknown not in docker.containers
