"""ActorWorker: the start barrier, the mailbox callback, the control channel and a clean exit."""

import os
import threading
from dataclasses import dataclass
from typing import Any

import pymongo.errors
import pytest

from abaco_shared import actors, executions, outages, workers
from abaco_shared.channels import SpawnerWorkerChannel
from abaco_shared.config import load_config
from abaco_shared.enginefacts import EngineFacts
from abaco_shared.enums import ActorStatus, ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.messages import MailboxMessage, WorkerCommand
from abaco_shared.models import Worker
from abaco_shared.retry import RetryPolicy
from abaco_shared.testing import FakeDelivery, FakeRun
from abaco_shared.waiters import CompletionSignals
from abaco_worker.cgroups import CgroupMeter
from abaco_worker.confinement import Confinement, Placement, RunLimits
from abaco_worker.execution import ExecutionRunner
from abaco_worker.main import build_worker
from abaco_worker.state import WorkerState
from abaco_worker.worker import ActorWorker, Heartbeat

pytestmark = pytest.mark.usefixtures("mongo")

WID = "W1"
PREFIX = "t:"


@pytest.fixture
def actor():
    return actors.create("dev", "alice", {"image": "abaco/echo:latest"})


@pytest.fixture
def cgroup_dirs(tmp_path):
    """Empty parent cgroups of the worker (cgroup v1 layout) that cleanup should remove."""
    dirs = [tmp_path / "cpuacct" / "abaco" / WID, tmp_path / "blkio" / "abaco" / WID]
    for d in dirs:
        d.mkdir(parents=True)
    return dirs


@pytest.fixture
def aw(actor, tmp_path, cgroup_dirs, broker, redis_client, docker) -> ActorWorker:
    """A worker whose record the spawner has written (UPDATING STORE), not started yet."""
    dbid = workers.create_requested(actor, WID).db_id
    for s in (WorkerStatus.SPAWNER_SETUP, WorkerStatus.CREATING_CONTAINER, WorkerStatus.UPDATING_STORE):
        workers.set_status(dbid, s)
    Worker.objects(db_id=dbid).update_one(set__host_id="local", set__pid=os.getpid())
    policy = RetryPolicy(max_attempts=3, retry_delay=0, max_failures=3, backoff_max=0)
    runner = ExecutionRunner(
        Placement(WID, "local", "inst1", "http://api", "host", f"/abaco/{WID}"),
        RunLimits(),
        Confinement(),
        docker,
        CgroupMeter(str(tmp_path), f"/abaco/{WID}"),
        WorkerState(),
        CompletionSignals(redis_client, PREFIX),
        policy,
    )
    heartbeat = Heartbeat(redis_client, PREFIX, WID)
    return ActorWorker(WID, actor.db_id, broker, runner, policy, heartbeat, ready_timeout=0.05)


@pytest.fixture
def started(aw) -> ActorWorker:
    SpawnerWorkerChannel(aw.broker, WID).send_ready()
    assert aw.start()
    return aw


def record(aw: ActorWorker) -> Worker | None:
    return workers.get(aw.db_id)


def submit(aw: ActorWorker, ex_id: str = "E1") -> dict[str, Any]:
    """Record an execution and return its mailbox body."""
    executions.submit(actors.get(aw.actor_dbid), ex_id, "alice", "str", "hi", {})
    return MailboxMessage(execution_id=ex_id, content_type="str", message="hi").to_dict()


def deliver(aw: ActorWorker, body: dict[str, Any]) -> FakeDelivery:
    delivery = FakeDelivery(body)
    aw.on_message(body, delivery)
    return delivery


def ex(aw: ActorWorker, ex_id: str = "E1"):
    return executions.get(aw.actor_dbid, ex_id)


def runs(aw: ActorWorker) -> int:
    return sum(1 for c in aw.runner.docker.calls if c[0] == "run")


def command(aw: ActorWorker, name: str, execution_id: str = "") -> None:
    aw.control(WorkerCommand(name, execution_id))


def running(aw: ActorWorker, ex_id: str = "E1", cid: str = "cRUN") -> None:
    """Make the runner look busy with ``ex_id`` in container ``cid``."""
    aw.state.begin(ex_id)
    aw.state.started(cid)


# -- assembling ---------------------------------------------------------------------------------
@dataclass
class FakeContext:
    cfg: Any
    broker: Any
    redis: Any


def test_build_worker_assembles_the_pieces_from_the_config(tmp_path, broker, redis_client, docker):
    env = {
        "ABACO_HOME": str(tmp_path),
        "ABACO__HOST__HOST_ID": "h9",
        "ABACO__WORKER__NETWORK": "abaco_net",
        "ABACO__WORKER__CGROUP_ROOT": str(tmp_path),
        "ABACO__WORKER__MAX_ATTEMPTS": "5",
        "ABACO__WORKER__MAX_RUN_TIME": "60",
        "ABACO__SPAWNER__WORKER_READY_TIMEOUT": "7",
    }
    ctx = FakeContext(load_config(env=env), broker, redis_client)
    w = build_worker(ctx, docker, WID, "dev_A1")
    assert (w.worker_id, w.actor_dbid, w.db_id) == (WID, "dev_A1", "dev_A1_W1")
    p = w.runner.placement
    assert (p.worker_id, p.host_id, p.network, p.cgroup_parent) == (WID, "h9", "abaco_net", "/abaco/W1")
    assert p.install_id == ctx.cfg.general.install_id and p.api_server == ctx.cfg.general.api_server
    assert w.runner.meter.root == tmp_path and w.runner.meter.rel == "abaco/W1"
    assert w.runner.limits.max_run_time == 60
    assert w.policy is w.runner.policy and w.policy.max_attempts == 5
    assert w.state is w.runner.state
    assert w.heartbeat.key == "abaco:worker:W1:heartbeat" and w.ready_timeout == 7


def test_build_worker_takes_the_engine_facts_from_its_spawner_instead_of_asking(tmp_path, broker, redis_client, docker):
    env = {"ABACO_HOME": str(tmp_path), "ABACO__WORKER__CGROUP_ROOT": str(tmp_path)}
    ctx = FakeContext(load_config(env=env), broker, redis_client)
    docker.cgroup_info = lambda: pytest.fail("the engine was asked")  # type: ignore[method-assign]
    w = build_worker(ctx, docker, WID, "dev_A1", facts=EngineFacts("1.41", "systemd", 1))
    assert w.runner.placement.cgroup_parent == f"abaco-{WID}.slice"  # the systemd driver's name


# -- start --------------------------------------------------------------------------------------
def test_start_waits_for_ready_then_marks_the_worker_and_the_actor_ready(aw, actor):
    SpawnerWorkerChannel(aw.broker, WID).send_ready()
    assert aw.start() is True
    worker = record(aw)
    assert worker.status == WorkerStatus.READY and worker.last_health_check_time is not None
    assert actors.get(actor.db_id).status == ActorStatus.READY
    assert aw.revision == 1 and aw.state.stopping() == ""


def test_a_worker_of_an_older_revision_does_not_mark_the_actor_ready(aw, actor):
    actors.apply_update(actors.get(actor.db_id), {}, force=True)  # revision 2, SUBMITTED
    SpawnerWorkerChannel(aw.broker, WID).send_ready()
    assert aw.start() is True
    assert aw.revision == 1
    assert actors.get(actor.db_id).status == ActorStatus.SUBMITTED


def test_a_cancelled_barrier_means_exit_without_serving(aw):
    SpawnerWorkerChannel(aw.broker, WID).send_cancel()
    assert aw.start() is False
    assert aw.state.stopping() == "cancelled"
    assert record(aw).status == WorkerStatus.UPDATING_STORE


def test_no_barrier_within_the_timeout_means_exit(aw):
    assert aw.start() is False
    assert aw.state.stopping() == "" and record(aw).status == WorkerStatus.UPDATING_STORE


def test_a_worker_whose_record_vanished_does_not_start(aw):
    workers.delete(aw.db_id)
    SpawnerWorkerChannel(aw.broker, WID).send_ready()
    assert aw.start() is False


def test_a_worker_told_to_stop_while_starting_does_not_become_ready(aw):
    workers.set_status(aw.db_id, WorkerStatus.SHUTDOWN_REQUESTED)
    SpawnerWorkerChannel(aw.broker, WID).send_ready()
    assert aw.start() is False
    assert record(aw).status == WorkerStatus.SHUTDOWN_REQUESTED


@pytest.mark.parametrize(("barrier", "code"), [("cancel", 0), (None, 1)])
def test_run_exit_code_and_cleanup_when_not_started(aw, barrier, code):
    if barrier:
        SpawnerWorkerChannel(aw.broker, WID).send_cancel()
    stop = threading.Event()
    assert aw.run(stop) == code
    assert stop.is_set()
    if barrier:  # cancelled: nothing to replace
        assert record(aw) is None
    else:  # no READY: a failure, whose record stays for health to reap and replace
        assert record(aw) is not None and aw.failed() == "no READY from the spawner"


# -- the mailbox --------------------------------------------------------------------------------
def test_a_message_runs_a_container_and_is_acked(started, redis_client):
    delivery = deliver(started, submit(started))
    assert delivery.settled == "ack"
    assert (ex(started).status, ex(started).outcome) == (ExecutionStatus.COMPLETE, ExecutionOutcome.SUCCESS)
    assert started.runner.docker.containers == {}, "removed once acked"
    assert redis_client.get(started.heartbeat.key) is not None
    assert record(started).status == WorkerStatus.READY and not started.stop.is_set()


def test_a_message_for_a_stale_revision_is_handed_back_and_the_worker_exits(started, actor):
    actors.apply_update(actors.get(actor.db_id), {}, force=True)
    delivery = deliver(started, submit(started))
    assert delivery.settled == "requeue" and started.stop.is_set()
    assert runs(started) == 0 and ex(started).attempts == 0


@pytest.mark.parametrize("departure", ["shutting_down", "deleted"])
def test_a_message_for_a_departing_actor_is_handed_back_and_the_worker_exits(started, actor, departure):
    body = submit(started)
    if departure == "deleted":
        actors.delete(actor.db_id)
    else:
        actors.set_status(actor.db_id, ActorStatus.SHUTTING_DOWN)
    delivery = deliver(started, body)
    assert delivery.settled == "requeue" and started.stop.is_set()
    assert runs(started) == 0


def test_a_message_arriving_while_stopping_is_handed_back(started):
    started.state.request_stop("stop-no-delete")
    assert deliver(started, submit(started)).settled == "requeue"
    assert runs(started) == 0 and ex(started).attempts == 0


@pytest.mark.parametrize(
    "body",
    [
        {"v": 1, "content_type": "str"},  # no execution id
        {"v": 99, "execution_id": "E1", "content_type": "str"},  # unknown schema version
        {"v": 1, "execution_id": 5, "content_type": "str"},  # wrong type
    ],
)
def test_an_unreadable_message_is_dropped(started, body):
    delivery = deliver(started, body)
    assert delivery.settled == "ack"
    assert runs(started) == 0 and not started.stop.is_set()


def test_a_docker_error_is_requeued_for_another_attempt(started):
    started.runner.docker.runs.append(FakeRun(error="cannot create container"))
    delivery = deliver(started, submit(started))
    assert delivery.settled == "requeue"
    assert ex(started).status == ExecutionStatus.SUBMITTED and ex(started).attempts == 1
    assert started.policy.failures == 0 and not started.stop.is_set()


def test_unexpected_errors_are_requeued_and_stop_the_worker_after_max_failures(started, monkeypatch):
    def broken(actor, msg):
        raise RuntimeError("bug")

    monkeypatch.setattr(started.runner, "handle", broken)
    body = submit(started)
    first = [deliver(started, body).settled for _ in range(2)]
    assert first == ["requeue", "requeue"] and started.policy.failures == 2
    assert not started.stop.is_set()
    assert deliver(started, body).settled == "requeue"
    assert started.stop.is_set(), "max_failures=3 in a row"


def test_stop_no_delete_during_a_run_lets_it_finish(started):
    started.runner.docker.runs.append(FakeRun(during=lambda cid: command(started, "stop-no-delete")))
    delivery = deliver(started, submit(started))
    assert delivery.settled == "ack" and ex(started).outcome == ExecutionOutcome.SUCCESS
    assert started.runner.docker.stopped == []
    assert started.stop.is_set() and record(started).status == WorkerStatus.SHUTTING_DOWN


def test_stop_during_a_run_force_quits_it(started):
    started.runner.docker.runs.append(FakeRun(exit_code=137, during=lambda cid: command(started, "stop")))
    delivery = deliver(started, submit(started))
    assert delivery.settled == "ack" and ex(started).outcome == ExecutionOutcome.FORCE_QUIT
    assert started.runner.docker.stopped == ["c000000000000"]
    assert record(started).status == WorkerStatus.SHUTTING_DOWN, "not put back to READY"


def test_stop_arriving_while_the_message_is_being_claimed_still_force_quits(started, monkeypatch):
    real_claim = executions.claim_fresh

    def claim_while_stop_arrives(ex_dbid, worker_id):
        command(started, "stop")  # the control thread, between the stop check and the container start
        return real_claim(ex_dbid, worker_id)

    monkeypatch.setattr(executions, "claim_fresh", claim_while_stop_arrives)
    started.runner.docker.runs.append(FakeRun(exit_code=137))
    deliver(started, submit(started))
    assert started.runner.docker.stopped == ["c000000000000"]
    assert ex(started).outcome == ExecutionOutcome.FORCE_QUIT


# -- the worker channel -------------------------------------------------------------------------
def test_status_touches_the_health_check_time(started):
    Worker.objects(db_id=started.db_id).update_one(set__last_health_check_time=None)
    command(started, "status")
    assert record(started).last_health_check_time is not None
    assert not started.stop.is_set() and started.state.stopping() == ""


def test_force_quit_stops_the_running_container(started):
    running(started, "E1", "cRUN")
    command(started, "force_quit", "E2")
    assert started.runner.docker.stopped == [], "another execution"
    command(started, "force_quit", "E1")
    assert started.runner.docker.stopped == ["cRUN"] and started.state.was_forced()
    assert not started.stop.is_set() and record(started).status == WorkerStatus.READY


def test_stop_marks_shutting_down_force_quits_and_stops(started):
    running(started)
    command(started, "stop")
    assert started.state.stopping() == "stop"
    assert record(started).status == WorkerStatus.SHUTTING_DOWN
    assert started.runner.docker.stopped == ["cRUN"] and started.stop.is_set()


def test_stop_no_delete_stops_without_force_quitting(started):
    running(started)
    command(started, "stop-no-delete")
    assert started.state.stopping() == "stop-no-delete"
    assert record(started).status == WorkerStatus.SHUTTING_DOWN
    assert started.runner.docker.stopped == [] and not started.state.was_forced()
    assert started.stop.is_set()


@pytest.mark.parametrize("body", [{"v": 1, "command": "reboot"}, {"v": 1}, "stop"])
def test_a_bad_command_is_acked_and_ignored(started, body):
    delivery = FakeDelivery(body)
    started.on_control(body, delivery)
    assert delivery.settled == "ack"
    assert not started.stop.is_set() and started.state.stopping() == ""


def test_on_control_acks_and_runs_a_command(started):
    delivery = FakeDelivery()
    started.on_control(WorkerCommand("stop").to_dict(), delivery)
    assert delivery.settled == "ack" and started.stop.is_set()


# -- exit ---------------------------------------------------------------------------------------
def test_cleanup_removes_the_record_heartbeat_container_and_cgroups(started, redis_client, cgroup_dirs):
    deliver(started, submit(started))
    assert redis_client.exists(started.heartbeat.key)
    leftover = started.runner.docker.add_container({"abaco.worker": WID})
    started.runner.finished_container = leftover
    started.cleanup()
    assert record(started) is None
    assert not redis_client.exists(started.heartbeat.key)
    assert leftover not in started.runner.docker.containers
    assert not any(d.exists() for d in cgroup_dirs)


def test_heartbeat_is_written_at_most_once_per_interval(redis_client):
    hb = Heartbeat(redis_client, PREFIX, WID, every=10)
    assert hb.key == f"{PREFIX}worker:{WID}:heartbeat"
    hb.beat()
    assert redis_client.exists(hb.key) and 0 < redis_client.ttl(hb.key) <= 120
    redis_client.delete(hb.key)
    hb.beat()
    assert not redis_client.exists(hb.key), "a second beat within the interval writes nothing"
    hb._last -= 10  # as if the interval had passed
    hb.beat()
    assert redis_client.exists(hb.key)
    hb.clear()
    assert not redis_client.exists(hb.key)


# -- outages: waited out; a worker that fails (nobody asked it to exit) leaves its record for health
@pytest.fixture
def no_outage_waits(monkeypatch):
    monkeypatch.setattr(outages.Backoff, "next", lambda self: 0)


def test_a_mongodb_outage_longer_than_max_failures_never_stops_the_worker(started, monkeypatch, no_outage_waits):
    body = submit(started)
    real_claim = executions.claim_fresh

    def down(ex_dbid, worker_id):
        raise pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")

    monkeypatch.setattr(executions, "claim_fresh", down)
    settled = [deliver(started, body).settled for _ in range(started.policy.max_failures * 4)]
    assert set(settled) == {"requeue"}, "the message goes back to its queue every time"
    assert not started.stop.is_set() and started.failed() == ""

    monkeypatch.setattr(executions, "claim_fresh", real_claim)  # MongoDB is back
    assert deliver(started, body).settled == "ack"
    assert executions.get(started.actor_dbid, "E1").status == ExecutionStatus.COMPLETE
    assert executions.get(started.actor_dbid, "E1").attempts == 1, "the outage cost no attempt"


def test_a_worker_that_gives_up_leaves_its_record_for_health(started, monkeypatch):
    def broken(actor, msg):
        raise RuntimeError("bug")

    monkeypatch.setattr(started.runner, "handle", broken)
    body = submit(started)
    for _ in range(started.policy.max_failures):
        deliver(started, body)
    assert started.stop.is_set() and started.failed() == "too many failures in a row"

    started.cleanup()
    assert record(started) is not None, "health reaps it and requests a replacement"


def test_a_worker_asked_to_stop_removes_its_record(started):
    started.control(WorkerCommand("stop-no-delete"))
    assert started.failed() == ""
    started.cleanup()
    assert record(started) is None


def test_a_crash_in_the_worker_is_a_failure(started, monkeypatch):
    def lost(*args, **kwargs):
        raise pymongo.errors.ServerSelectionTimeoutError("down")

    monkeypatch.setattr(started, "start", lambda: True)
    monkeypatch.setattr(started, "_open_mailbox", lost)
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        started.run(started.stop)
    assert started.failed().startswith("ServerSelectionTimeoutError")
    assert record(started) is not None
