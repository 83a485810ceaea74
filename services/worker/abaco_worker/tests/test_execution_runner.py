"""ExecutionRunner: one mailbox message -> one container run -> one terminal execution record."""

import datetime as dt
import os
import subprocess
from dataclasses import dataclass

import pymongo.errors
import pytest

from abaco_shared import actors, executions, logs, workers
from abaco_shared.containers import ContainerResult
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Actor, Execution, Worker
from abaco_shared.retry import Disposition, RetryPolicy
from abaco_shared.testing import FakeDocker, FakeRun
from abaco_shared.waiters import CompletionSignals
from abaco_worker.cgroups import CgroupMeter
from abaco_worker.confinement import Confinement, Placement, RunLimits
from abaco_worker.execution import ExecutionRunner
from abaco_worker.outcome import outcome_of
from abaco_worker.state import WorkerState

pytestmark = pytest.mark.usefixtures("mongo")

WID = "W1"
HOST = "host-a"
Out = ExecutionOutcome


def make_worker(actor: Actor, worker_id: str, status=WorkerStatus.READY, **fields) -> str:
    """A worker record walked through the spawner's statuses to ``status``."""
    workers.create_requested(actor, worker_id)
    dbid = workers.key_for(actor.db_id, worker_id)
    for s in (WorkerStatus.SPAWNER_SETUP, WorkerStatus.CREATING_CONTAINER, WorkerStatus.UPDATING_STORE, status):
        assert workers.set_status(dbid, s)
    if fields:
        Worker.objects(db_id=dbid).update_one(**{f"set__{k}": v for k, v in fields.items()})
    return dbid


class Cgroup:
    """Fake cgroup v1 counters for the parent cgroup ``/abaco/W1`` under a temporary root."""

    def __init__(self, root) -> None:
        self.cpu = root / "cpuacct" / "abaco" / WID
        self.blk = root / "blkio" / "abaco" / WID
        self.cpu.mkdir(parents=True)
        self.blk.mkdir(parents=True)
        self.meter = CgroupMeter(str(root), f"/abaco/{WID}", version=1)
        self.set(0, 0, 0)

    def set(self, cpu_ns: int, read: int, write: int) -> None:
        (self.cpu / "cpuacct.usage").write_text(f"{cpu_ns}\n")
        lines = f"8:0 Read {read}\n8:0 Write {write}\n8:0 Total {read + write}\nTotal {read + write}\n"
        (self.blk / "blkio.throttle.io_service_bytes_recursive").write_text(lines)


@dataclass
class Rig:
    runner: ExecutionRunner
    docker: FakeDocker
    actor: Actor
    cgroup: Cgroup
    signals: CompletionSignals
    worker_dbid: str

    def submit(self, ex_id: str = "E1", **fields) -> MailboxMessage:
        ex = executions.submit(self.actor, ex_id, "alice", "str", "hi", {})
        if fields:
            Execution.objects(db_id=ex.db_id).update_one(**{f"set__{k}": v for k, v in fields.items()})
        return MailboxMessage(execution_id=ex_id, content_type="str", message="hi")

    def handle(self, msg: MailboxMessage) -> Disposition:
        return self.runner.handle(self.actor, msg)

    def ex(self, ex_id: str = "E1") -> Execution:
        return executions.get(self.actor.db_id, ex_id)

    def signalled(self, ex_id: str = "E1") -> list[str]:
        return self.signals.client.lrange(self.signals.key_for(executions.key_for(self.actor.db_id, ex_id)), 0, -1)

    def worker(self):
        return workers.get(self.worker_dbid)


def build_rig(tmp_path, docker, redis_client, actor_values=None, limits=None, max_attempts=3, confinement=None) -> Rig:
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest", **(actor_values or {})})
    worker_dbid = make_worker(actor, WID, host_id=HOST, pid=os.getpid())
    cgroup = Cgroup(tmp_path)
    placement = Placement(WID, HOST, "inst1", "http://api", "abaco_net", f"/abaco/{WID}")
    signals = CompletionSignals(redis_client, "t:")
    policy = RetryPolicy(max_attempts=max_attempts, retry_delay=0)
    runner = ExecutionRunner(
        placement,
        limits or RunLimits(),
        confinement or Confinement(),
        docker,
        cgroup.meter,
        WorkerState(),
        signals,
        policy,
    )
    return Rig(runner, docker, actor, cgroup, signals, worker_dbid)


@pytest.fixture
def rig(tmp_path, docker, redis_client) -> Rig:
    return build_rig(tmp_path, docker, redis_client, actor_values={"log_ex": 60})


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# -- a run to an exit code ----------------------------------------------------------------------
def test_success_records_the_run_and_signals_completion(rig):
    seen = {}

    def during(cid):
        seen["worker"] = rig.worker().status
        seen["ex"] = rig.ex().status
        seen["state"] = (rig.runner.state.execution_id, rig.runner.state.container_id)
        rig.cgroup.set(cpu_ns=7_000, read=4096, write=1024)

    rig.cgroup.set(cpu_ns=1_000, read=100, write=0)
    rig.docker.runs.append(FakeRun(exit_code=0, logs="hello\n", runtime_ms=1500, during=during))
    msg = rig.submit()

    assert rig.handle(msg) is Disposition.ACK
    ex = rig.ex()
    assert ex.status == ExecutionStatus.COMPLETE and ex.outcome == Out.SUCCESS
    assert ex.exit_code == 0 and ex.runtime == 1500
    assert ex.cpu == 6_000 and ex.io == 4096 + 1024 - 100, "deltas over the run, not the totals"
    assert ex.attempts == 1 and ex.worker_id == WID
    assert ex.start_time == dt.datetime(2026, 1, 1, 12) and ex.finish_time == dt.datetime(2026, 1, 1, 12, 0, 1, 500000)
    assert ex.final_state["ExitCode"] == 0 and ex.final_state["Status"] == "exited"
    assert logs.text_of(ex.db_id) == "hello\n"
    assert logs.Log.objects(db_id=ex.db_id).first().exp is not None, "the actor's log_ex gives the logs an expiry"
    assert rig.signalled() == ["1"]
    # while it ran: the worker was BUSY, the execution RUNNING, the state knew the container
    assert seen["worker"] == WorkerStatus.BUSY and seen["ex"] == ExecutionStatus.RUNNING
    assert seen["state"] == ("E1", "c000000000000")
    # afterwards: READY again, state cleared
    worker = rig.worker()
    assert worker.status == WorkerStatus.READY and worker.last_execution_time is not None
    assert (rig.runner.state.execution_id, rig.runner.state.container_id) == ("", "")


def test_a_store_outage_as_the_container_starts_does_not_run_it_again(rig, monkeypatch):
    # MongoDB stepping down just as the container starts: marking it RUNNING fails, yet the run is
    # in hand and is recorded when it ends; never a second container for the execution
    def down(ex_dbid):
        raise pymongo.errors.NotPrimaryError("not master")

    monkeypatch.setattr(executions, "start", down)
    rig.docker.runs.append(FakeRun(exit_code=0, logs="once\n"))
    msg = rig.submit()

    assert rig.handle(msg) is Disposition.ACK
    ex = rig.ex()
    assert (ex.status, ex.outcome, ex.attempts) == (ExecutionStatus.COMPLETE, Out.SUCCESS, 1)
    assert len(rig.docker.specs) == 1, "one container for the execution"
    assert logs.text_of(ex.db_id) == "once\n"


def test_the_finished_container_is_removed_only_after_recording(rig):
    rig.handle(rig.submit())
    cid = rig.runner.finished_container
    assert cid in rig.docker.containers, "kept until the message is acked"
    rig.runner.remove_finished()
    assert cid not in rig.docker.containers and ("remove", cid) in rig.docker.calls
    rig.runner.remove_finished()
    assert [c for c in rig.docker.calls if c[0] == "remove"] == [("remove", cid)], "removed once"


def test_leave_containers_keeps_the_finished_container(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client, limits=RunLimits(leave_containers=True))
    rig.handle(rig.submit())
    cid = rig.runner.finished_container
    rig.runner.remove_finished()
    assert cid in docker.containers and not any(c[0] == "remove" for c in docker.calls)


def test_a_failure_to_record_still_removes_the_container(rig, monkeypatch):
    def broken(*args):
        raise RuntimeError("mongo went away")

    monkeypatch.setattr(executions, "complete", broken)
    with pytest.raises(RuntimeError):
        rig.handle(rig.submit())
    assert rig.docker.containers == {}
    assert rig.signalled() == [], "nothing is signalled for an execution that was not recorded"
    assert rig.worker().status == WorkerStatus.READY


def test_a_non_zero_exit_is_complete_but_failed(rig):
    rig.docker.runs.append(FakeRun(exit_code=3, logs="oops"))
    assert rig.handle(rig.submit()) is Disposition.ACK
    ex = rig.ex()
    assert (ex.status, ex.outcome, ex.exit_code) == (ExecutionStatus.COMPLETE, Out.FAILED, 3)
    assert logs.text_of(ex.db_id) == "oops"


def test_a_run_that_hit_its_time_limit_is_timed_out(rig):
    rig.docker.runs.append(FakeRun(exit_code=137, timed_out=True))
    assert rig.handle(rig.submit()) is Disposition.ACK
    assert (rig.ex().status, rig.ex().outcome) == (ExecutionStatus.COMPLETE, Out.TIMED_OUT)


def test_logs_are_cut_at_max_log_length(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client, limits=RunLimits(max_log_length=5))
    docker.runs.append(FakeRun(logs="0123456789"))
    rig.handle(rig.submit())
    assert logs.text_of(rig.ex().db_id) == "01234"
    assert logs.Log.objects(db_id=rig.ex().db_id).first().exp is None, "no log_ex: kept"


# -- force-quit ---------------------------------------------------------------------------------
def test_force_quit_asked_before_the_container_started_stops_it_on_start(rig, monkeypatch):
    real_run = rig.docker.run

    def run_after_a_force_quit(spec, on_started=None, max_log_length=0):
        assert rig.runner.state.container_id == ""
        rig.runner.force_quit("E1")  # arrives between claim and container start: nothing to stop yet
        assert rig.docker.stopped == []
        return real_run(spec, on_started=on_started, max_log_length=max_log_length)

    monkeypatch.setattr(rig.docker, "run", run_after_a_force_quit)
    rig.docker.runs.append(FakeRun(exit_code=137))
    assert rig.handle(rig.submit()) is Disposition.ACK
    assert rig.docker.stopped == ["c000000000000"], "stopped as soon as it started"
    assert (rig.ex().status, rig.ex().outcome) == (ExecutionStatus.COMPLETE, Out.FORCE_QUIT)


def test_force_quit_during_the_run_stops_the_running_container(rig):
    rig.docker.runs.append(FakeRun(exit_code=137, during=lambda cid: rig.runner.force_quit("E1")))
    assert rig.handle(rig.submit()) is Disposition.ACK
    assert rig.docker.stopped == ["c000000000000"]
    assert rig.ex().outcome == Out.FORCE_QUIT and rig.ex().exit_code == 137


def test_force_quit_of_another_execution_is_ignored(rig):
    rig.docker.runs.append(FakeRun(during=lambda cid: rig.runner.force_quit("OTHER")))
    rig.handle(rig.submit())
    assert rig.docker.stopped == [] and rig.ex().outcome == Out.SUCCESS


def test_a_force_quit_does_not_carry_over_to_the_next_execution(rig):
    rig.docker.runs.append(FakeRun(exit_code=137, during=lambda cid: rig.runner.force_quit("")))
    rig.handle(rig.submit("E1"))
    rig.handle(rig.submit("E2"))
    assert rig.ex("E1").outcome == Out.FORCE_QUIT
    assert rig.ex("E2").outcome == Out.SUCCESS
    assert len(rig.docker.stopped) == 1


# -- Docker errors and attempts -----------------------------------------------------------------
def test_a_docker_error_with_attempts_left_is_retried(rig):
    rig.docker.runs.append(FakeRun(error="no such network"))
    assert rig.handle(rig.submit()) is Disposition.RETRY
    ex = rig.ex()
    assert ex.status == ExecutionStatus.SUBMITTED and ex.outcome is None and ex.attempts == 1
    assert not executions.is_terminal(ex.db_id)
    assert rig.signalled() == []
    assert rig.worker().status == WorkerStatus.READY


def test_a_docker_error_on_the_last_attempt_ends_the_execution(rig):
    rig.docker.runs.extend([FakeRun(error="no such network")] * 3)
    msg = rig.submit()
    assert [rig.handle(msg) for _ in range(3)] == [Disposition.RETRY, Disposition.RETRY, Disposition.ACK]
    ex = rig.ex()
    assert (ex.status, ex.outcome) == (ExecutionStatus.ERROR, Out.NOT_STARTED)
    assert ex.status_message == "no such network" and ex.attempts == 3
    assert ex.finish_time is not None
    assert rig.signalled() == ["1"]
    assert rig.runner.finished_container == ""


def test_an_execution_past_max_attempts_is_given_up_without_running(rig):
    msg = rig.submit(attempts=3)
    assert rig.handle(msg) is Disposition.ACK
    ex = rig.ex()
    assert (ex.status, ex.outcome) == (ExecutionStatus.ERROR, Out.NOT_STARTED)
    assert ex.status_message == "Gave up after 3 attempts to run it."
    assert not any(c[0] == "run" for c in rig.docker.calls)
    assert rig.signalled() == ["1"]
    assert rig.worker().last_execution_time is None, "the worker never became BUSY"


# -- duplicates and redeliveries ----------------------------------------------------------------
def test_a_duplicate_of_a_terminal_execution_is_acked_without_running(rig):
    msg = rig.submit()
    rig.handle(msg)
    calls = list(rig.docker.calls)
    assert rig.handle(msg) is Disposition.ACK
    assert rig.docker.calls == calls and rig.ex().attempts == 1


def test_a_message_for_an_unknown_execution_is_acked(rig):
    assert rig.handle(MailboxMessage(execution_id="NOPE", content_type="str")) is Disposition.ACK
    assert rig.docker.calls == []


def test_an_execution_running_on_a_live_worker_of_this_host_is_retried_later(rig):
    make_worker(rig.actor, "W2", host_id=HOST, pid=os.getpid())
    msg = rig.submit(status="RUNNING", worker_id="W2", attempts=1)
    assert rig.handle(msg) is Disposition.RETRY
    ex = rig.ex()
    assert ex.worker_id == "W2" and ex.attempts == 1, "not claimed"
    assert rig.docker.calls == []


def test_an_execution_running_on_a_worker_of_another_host_is_retried_later(rig):
    make_worker(rig.actor, "W2", host_id="host-b", pid=dead_pid())
    assert rig.handle(rig.submit(status="RUNNING", worker_id="W2")) is Disposition.RETRY


def test_an_execution_whose_worker_died_on_this_host_runs_again(rig):
    make_worker(rig.actor, "W2", host_id=HOST, pid=dead_pid())
    msg = rig.submit(status="RUNNING", worker_id="W2", attempts=1)
    assert rig.handle(msg) is Disposition.ACK
    ex = rig.ex()
    assert (ex.status, ex.outcome, ex.worker_id, ex.attempts) == (ExecutionStatus.COMPLETE, Out.SUCCESS, WID, 2)


def test_an_execution_whose_worker_record_is_gone_runs_again(rig):
    assert rig.handle(rig.submit(status="RUNNING", worker_id="GONE")) is Disposition.ACK
    assert rig.ex().outcome == Out.SUCCESS


def test_a_redelivery_of_this_workers_own_running_execution_runs_it(rig):
    assert rig.handle(rig.submit(status="RUNNING", worker_id=WID, attempts=1)) is Disposition.ACK
    assert rig.ex().attempts == 2 and rig.ex().outcome == Out.SUCCESS


def test_a_lost_execution_whose_message_turns_up_is_revived_and_run(rig):
    msg = rig.submit()
    assert executions.end(rig.ex().db_id, Out.LOST, "message lost")
    assert rig.handle(msg) is Disposition.ACK
    ex = rig.ex()
    assert (ex.status, ex.outcome, ex.status_message) == (ExecutionStatus.COMPLETE, Out.SUCCESS, "")
    assert len([c for c in rig.docker.calls if c[0] == "run"]) == 1


# -- the container spec -------------------------------------------------------------------------
def test_spec_labels_placement_and_environment(rig):
    msg = rig.submit()
    spec = rig.runner.spec_for(rig.actor, msg)
    assert spec.image == "abaco/echo:latest"
    assert spec.labels == {
        "abaco.worker": WID,
        "abaco.actor": rig.actor.db_id,
        "abaco.execution": "E1",
        "abaco.install": "inst1",
        "abaco.max_run_time": "604800",
    }
    assert spec.network_mode == "abaco_net" and spec.cgroup_parent == f"/abaco/{WID}"
    assert spec.environment["_abaco_worker_id"] == WID and spec.environment["MSG"] == "hi"
    assert spec.environment["_abaco_api_server"] == "http://api"
    assert (spec.mem_limit, spec.nano_cpus) == (None, None), "unlimited when neither sets a limit"


def test_spec_limits_come_from_the_actor_over_the_config(tmp_path, docker, redis_client):
    limits = RunLimits(mem_limit="1g", max_cpus=2_000_000_000, max_run_time=600)
    rig = build_rig(tmp_path, docker, redis_client, {"mem_limit": "256m", "max_cpus": 500_000_000}, limits)
    rig.handle(rig.submit())
    spec = docker.specs[0]
    assert (spec.mem_limit, spec.nano_cpus, spec.max_run_time) == ("256m", 500_000_000, 600)
    rig.actor.mem_limit, rig.actor.max_cpus = None, None
    spec = rig.runner.spec_for(rig.actor, rig.submit("E2"))
    assert (spec.mem_limit, spec.nano_cpus) == ("1g", 2_000_000_000)


@pytest.mark.parametrize(
    ("actor_limit", "platform", "cap", "expected"),
    [
        (None, -1, 1000, 1000),  # nothing asked: the hard cap still bounds it
        (0, 0, 1000, 1000),  # zero means unset
        (60, -1, 1000, 60),
        (60, 120, 1000, 60),  # the actor's is tighter
        (300, 120, 1000, 120),  # the platform's is tighter
        (5000, -1, 1000, 1000),  # the actor cannot exceed the cap
        (None, 5000, 1000, 1000),
    ],
)
def test_run_time_is_the_tightest_limit(actor_limit, platform, cap, expected):
    actor = Actor(db_id="dev_A", actor_id="A", tenant="dev", owner="o", image="i", max_run_time=actor_limit)
    assert RunLimits(max_run_time=platform, max_run_time_limit=cap).run_time_for(actor) == expected


# -- outcomes -----------------------------------------------------------------------------------
def _result(exit_code=0, timed_out=False) -> ContainerResult:
    return ContainerResult("c1", exit_code, None, None, "", {}, timed_out)


@pytest.mark.parametrize(
    ("exit_code", "timed_out", "forced", "expected"),
    [
        (0, False, False, Out.SUCCESS),
        (1, False, False, Out.FAILED),
        (-1, False, False, Out.FAILED),
        (0, False, True, Out.FORCE_QUIT),
        (137, False, True, Out.FORCE_QUIT),
        (137, True, False, Out.TIMED_OUT),
        (137, True, True, Out.TIMED_OUT),  # the time limit is what ended it
        (0, True, False, Out.TIMED_OUT),
    ],
)
def test_outcome_of(exit_code, timed_out, forced, expected):
    assert outcome_of(_result(exit_code, timed_out), forced) is expected


# -- confinement: who the container runs as, what it sees ------------------------------------------
def message(ex_id: str) -> MailboxMessage:
    return MailboxMessage(execution_id=ex_id, content_type="str", message="hi")


def test_containers_are_confined_by_default(tmp_path, docker, redis_client):
    rig = build_rig(
        tmp_path, docker, redis_client, limits=RunLimits(mem_limit="1g", pids_limit=512, log_max_size="10m")
    )
    spec = rig.runner.spec_for(rig.actor, message("E1"))
    assert spec.user == "65534:65534" and spec.read_only is True and spec.privileged is False
    assert spec.cap_drop == ["ALL"] and spec.security_opt == ["no-new-privileges"]
    assert spec.tmpfs == {"/tmp": "rw,nosuid,nodev,size=64m"} and spec.binds == []
    assert (spec.mem_limit, spec.pids_limit, spec.log_max_size) == ("1g", 512, "10m")


def test_use_container_uid_runs_as_the_images_user(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client, actor_values={"use_container_uid": True})
    assert rig.runner.spec_for(rig.actor, message("E1")).user is None


def test_mounts_are_templated_per_actor_and_privileged_actors_get_the_socket(tmp_path, docker, redis_client):
    conf = Confinement(
        mount_roots=("/data",),
        global_mounts=("/data/{tenant_id}/{username}:/work:rw", "/data/shared:/shared"),
        privileged_mounts=("/data/priv:/priv",),
    )
    rig = build_rig(tmp_path, docker, redis_client, confinement=conf)
    assert rig.runner.spec_for(rig.actor, message("E1")).binds == [
        "/data/dev/alice:/work:rw",
        "/data/shared:/shared:ro",
    ]
    privileged = actors.create("dev", "root", {"image": "abaco/echo:latest", "privileged": True})
    spec = rig.runner.spec_for(privileged, message("E2"))
    assert spec.binds[-2:] == ["/data/priv:/priv:ro", "/var/run/docker.sock:/var/run/docker.sock:rw"]
    assert spec.privileged is True and spec.user is None and spec.read_only is False


def test_a_mount_outside_the_allowed_roots_ends_the_execution_without_a_container(tmp_path, docker, redis_client):
    conf = Confinement(mount_roots=("/data",), global_mounts=("/data/{username}:/work",))
    rig = build_rig(tmp_path, docker, redis_client, confinement=conf)
    sneaky = actors.create("dev", "..", {"image": "abaco/echo:latest"})  # a user name of '..'
    make_worker(sneaky, WID, host_id=HOST, pid=os.getpid())
    ex = executions.submit(sneaky, "E9", "alice", "str", "hi", {})
    assert rig.runner.handle(sneaky, message("E9")) is Disposition.ACK
    done = executions.get_by_key(ex.db_id)
    assert done.status == ExecutionStatus.ERROR and done.outcome == ExecutionOutcome.NOT_STARTED
    assert "without '..'" in done.status_message and docker.specs == []


def test_an_oom_kill_is_said_in_the_status_message_and_the_limits_are_kept(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client, limits=RunLimits(mem_limit="64m", pids_limit=100))
    ex = executions.submit(rig.actor, "E1", "alice", "str", "hi", {})
    docker.runs.append(FakeRun(exit_code=137, oom_killed=True))
    rig.runner.handle(rig.actor, message("E1"))
    done = executions.get_by_key(ex.db_id)
    assert done.outcome == ExecutionOutcome.FAILED and done.final_state["OOMKilled"] is True
    assert done.status_message.startswith("OOMKilled") and "64m" in done.status_message
    assert done.limits["memory"] == "64m" and done.limits["pids"] == 100 and done.limits["user"] == "65534:65534"
