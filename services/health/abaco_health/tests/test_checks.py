"""Unit tests of the health jobs (reap and ping) on fakes: mongomock, a memory broker, FakeDocker."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from abaco_health.checks import LOST_REASON, HealthChecker, ReapReport
from abaco_health.main import make_scheduler
from abaco_shared import actors, executions, workers
from abaco_shared.channels import CommandChannel, MailboxChannel, WorkerChannel
from abaco_shared.config import HealthConfig, HostConfig
from abaco_shared.enums import ActorStatus, ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.errors import ChannelTimeout
from abaco_shared.ids import new_id
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Execution, Worker, utcnow

IMAGE = "abaco/echo:latest"
DEAD_PID = 2**22 + 12345  # above Linux's PID_MAX_LIMIT: no process can have it
LIVE_PID = os.getpid()
CFG = HealthConfig(startup_timeout=120, lost_after=300)


# -- helpers ---------------------------------------------------------------------------------


def new_actor(**values):
    return actors.create("dev", "alice", {"image": IMAGE, **values})


def make_worker(actor, status=WorkerStatus.READY, host_id="h1", pid=None, age=0):
    """A worker record as the spawner and the worker would have left it, ``age`` seconds old."""
    worker = workers.create_requested(actor, new_id())
    Worker.objects(db_id=worker.db_id).update_one(
        set__status=status.value,
        set__host_id=host_id,
        set__pid=pid,
        set__create_time=utcnow() - dt.timedelta(seconds=age),
    )
    return workers.get(worker.db_id)


def submit(actor, age=0, worker_id="", status=ExecutionStatus.SUBMITTED):
    ex = executions.submit(actor, new_id(), "alice", "str", "hello", {})
    Execution.objects(db_id=ex.db_id).update_one(
        set__message_received_time=utcnow() - dt.timedelta(seconds=age),
        set__worker_id=worker_id,
        set__status=status.value,
    )
    return ex.db_id


def open_mailbox(broker, actor, messages=0):
    """Declare the actor's mailbox (as registration does) holding ``messages`` messages."""
    mailbox = MailboxChannel(broker, actor.db_id)
    with broker.connect() as conn:
        mailbox.queue.bind(conn.default_channel).declare()
    for _ in range(messages):
        mailbox.put(MailboxMessage(execution_id=new_id(), content_type="str", message="hi"))
    return mailbox


def drain(broker, queue):
    bodies = []
    while True:
        try:
            bodies.append(broker.get(queue, timeout=0))
        except ChannelTimeout:
            return bodies


def spawn_commands(broker, queue_name="default"):
    return drain(broker, CommandChannel(broker, queue_name).queue)


def gone(worker):
    return workers.get(worker.db_id) is None


@pytest.fixture
def checker(mongo, broker, docker):
    return HealthChecker(CFG, HostConfig(host_id="h1"), broker, docker, install_id="i1")


@pytest.fixture
def actor(mongo):
    return new_actor()


# -- dead workers ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", workers.LIVE)
def test_reap_removes_a_worker_of_this_host_whose_process_is_gone(checker, actor, status):
    dead = make_worker(actor, status, pid=DEAD_PID)

    report = checker.reap()

    assert gone(dead)
    assert report.dead == 1


def test_reap_keeps_live_processes_and_other_hosts(checker, actor):
    alive = make_worker(actor, WorkerStatus.BUSY, pid=LIVE_PID)
    elsewhere = make_worker(actor, WorkerStatus.READY, host_id="h2", pid=DEAD_PID)
    dead = make_worker(actor, WorkerStatus.READY, pid=DEAD_PID)

    report = checker.reap()

    assert gone(dead)
    assert workers.get(alive.db_id).status == WorkerStatus.BUSY
    assert workers.get(elsewhere.db_id).status == WorkerStatus.READY
    assert report.dead == 1


def test_reap_recognises_a_finished_process(checker, actor):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    finished = make_worker(actor, WorkerStatus.READY, pid=proc.pid)

    assert checker.reap().dead == 1
    assert gone(finished)


# -- stuck workers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [WorkerStatus.REQUESTED, WorkerStatus.SPAWNER_SETUP, WorkerStatus.PULLING_IMAGE, WorkerStatus.CREATING_CONTAINER],
)
def test_reap_removes_a_worker_that_never_started(checker, actor, status):
    stuck = make_worker(actor, status, host_id=None, age=CFG.startup_timeout + 5)
    recent = make_worker(actor, status, host_id=None, age=CFG.startup_timeout - 30)

    report = checker.reap()

    assert gone(stuck)
    assert workers.get(recent.db_id).status == status
    assert report.stuck == 1


def test_reap_removes_an_old_stop_request_without_a_process(checker, actor):
    no_process = make_worker(actor, WorkerStatus.SHUTDOWN_REQUESTED, age=CFG.startup_timeout + 5)
    with_process = make_worker(actor, WorkerStatus.SHUTDOWN_REQUESTED, pid=LIVE_PID, age=CFG.startup_timeout + 5)
    old_but_ready = make_worker(actor, WorkerStatus.READY, pid=LIVE_PID, age=10 * CFG.startup_timeout)

    report = checker.reap()

    assert gone(no_process)
    assert not gone(with_process)
    assert not gone(old_but_ready)
    assert (report.stuck, report.dead) == (1, 0)


# -- orphan containers -----------------------------------------------------------------------


def labels(actor_dbid, worker_id, install="i1"):
    return {"abaco.install": install, "abaco.actor": actor_dbid, "abaco.worker": worker_id}


def test_reap_removes_containers_whose_worker_is_gone(checker, actor, docker):
    worker = make_worker(actor, WorkerStatus.BUSY, pid=LIVE_PID)
    kept = docker.add_container(labels(actor.db_id, worker.worker_id))
    orphan = docker.add_container(labels(actor.db_id, "W-gone"))
    foreign = docker.add_container(labels(actor.db_id, "W-gone", install="i2"))
    unlabelled = docker.add_container({"com.example": "x"})

    report = checker.reap()

    assert report.orphans == 1
    assert set(docker.containers) == {kept, foreign, unlabelled}
    assert ("remove", orphan) in docker.calls


def test_a_dead_workers_container_is_removed_in_the_same_pass(checker, actor, docker):
    dead = make_worker(actor, WorkerStatus.BUSY, pid=DEAD_PID)
    cid = docker.add_container(labels(actor.db_id, dead.worker_id))

    report = checker.reap()

    assert (report.dead, report.orphans) == (1, 1)
    assert cid not in docker.containers


# -- lost executions -------------------------------------------------------------------------


def test_reap_ends_an_old_unclaimed_execution_whose_mailbox_is_empty(checker, actor, broker):
    open_mailbox(broker, actor)
    lost = submit(actor, age=CFG.lost_after + 10)
    recent = submit(actor, age=CFG.lost_after - 60)
    claimed = submit(actor, age=CFG.lost_after + 10, worker_id="W1")
    make_worker(actor, WorkerStatus.BUSY, pid=LIVE_PID)

    report = checker.reap()

    ended = executions.get_by_key(lost)
    assert (ended.status, ended.outcome, ended.status_message) == (
        ExecutionStatus.ERROR,
        ExecutionOutcome.LOST,
        LOST_REASON,
    )
    assert ended.finish_time is not None
    assert executions.get_by_key(recent).status == ExecutionStatus.SUBMITTED
    assert executions.get_by_key(claimed).status == ExecutionStatus.SUBMITTED
    assert report.lost == 1


def test_reap_keeps_unclaimed_executions_while_the_mailbox_holds_messages(checker, actor, broker):
    mailbox = open_mailbox(broker, actor, messages=1)
    waiting = submit(actor, age=CFG.lost_after + 10)

    report = checker.reap()

    assert executions.get_by_key(waiting).status == ExecutionStatus.SUBMITTED
    assert report.lost == 0
    assert mailbox.length() == 1  # health only looks


# -- resuming pending work -------------------------------------------------------------------


def test_reap_requests_a_worker_for_waiting_executions(checker, actor, broker):
    submit(actor)

    report = checker.reap()

    [requested] = workers.list_for_actor(actor.db_id)
    assert requested.status == WorkerStatus.REQUESTED
    [cmd] = spawn_commands(broker)
    assert (cmd["actor_dbid"], cmd["worker_id"], cmd["image"]) == (actor.db_id, requested.worker_id, IMAGE)
    assert report.restarted == 1


def test_resumed_work_goes_to_the_actors_queue(checker, broker, mongo):
    special = new_actor(queue="special")
    submit(special)

    checker.reap()

    assert len(spawn_commands(broker, "special")) == 1
    assert spawn_commands(broker) == []


@pytest.mark.parametrize("status", [WorkerStatus.REQUESTED, WorkerStatus.READY, WorkerStatus.SHUTDOWN_REQUESTED])
def test_reap_requests_no_worker_when_one_exists(checker, actor, broker, status):
    submit(actor, status=ExecutionStatus.RUNNING, worker_id="W1")
    make_worker(actor, status, pid=LIVE_PID)

    assert checker.reap().restarted == 0
    assert len(workers.list_for_actor(actor.db_id)) == 1
    assert spawn_commands(broker) == []


@pytest.mark.parametrize("state", [ActorStatus.ERROR, ActorStatus.SHUTTING_DOWN, "deleted"])
def test_reap_requests_no_worker_for_an_actor_that_takes_no_work(checker, actor, broker, state):
    submit(actor)
    if state == "deleted":
        actors.delete(actor.db_id)
    else:
        actors.set_status(actor.db_id, state)

    assert checker.reap().restarted == 0
    assert workers.list_for_actor(actor.db_id) == []
    assert spawn_commands(broker) == []


def test_reap_requests_no_worker_when_nothing_is_waiting(checker, actor, broker):
    submit(actor, status=ExecutionStatus.COMPLETE, worker_id="W1")

    assert checker.reap() == ReapReport()
    assert spawn_commands(broker) == []


def test_reap_report_counts_one_of_everything(checker, actor, broker, docker):
    # a worker died mid-execution: its record and container go, and a new worker is requested
    dead = make_worker(actor, WorkerStatus.BUSY, pid=DEAD_PID)
    submit(actor, status=ExecutionStatus.RUNNING, worker_id=dead.worker_id)
    docker.add_container(labels(actor.db_id, dead.worker_id))
    # another actor: a worker stuck in REQUESTED, and a message that never reached its mailbox
    other = new_actor()
    stuck = make_worker(other, WorkerStatus.REQUESTED, host_id=None, age=CFG.startup_timeout + 1)
    open_mailbox(broker, other)
    submit(other, age=CFG.lost_after + 1)

    report = checker.reap()

    # both actors lost a worker nobody asked to stop: both get a new one
    assert report == ReapReport(dead=1, stuck=1, orphans=1, lost=1, restarted=2)
    assert gone(dead) and gone(stuck)
    [replacement] = workers.list_for_actor(actor.db_id)
    [other_replacement] = workers.list_for_actor(other.db_id)
    assert replacement.status == other_replacement.status == WorkerStatus.REQUESTED
    spawned = sorted(c["worker_id"] for c in spawn_commands(broker))
    assert spawned == sorted([replacement.worker_id, other_replacement.worker_id])


# -- ping ------------------------------------------------------------------------------------


def test_ping_asks_each_live_worker_of_this_host_for_a_status(checker, actor, broker):
    ready = make_worker(actor, WorkerStatus.READY, pid=LIVE_PID)
    busy = make_worker(actor, WorkerStatus.BUSY, pid=LIVE_PID)
    starting = make_worker(actor, WorkerStatus.SPAWNER_SETUP)
    elsewhere = make_worker(actor, WorkerStatus.READY, host_id="h2", pid=LIVE_PID)

    assert checker.ping() == 2

    for w in (ready, busy):
        assert drain(broker, WorkerChannel(broker, w.worker_id).queue) == [
            {"command": "status", "execution_id": "", "v": 1}
        ]
    for w in (starting, elsewhere):
        assert drain(broker, WorkerChannel(broker, w.worker_id).queue) == []


# -- scheduling ------------------------------------------------------------------------------


def test_make_scheduler_registers_both_jobs_one_instance_at_a_time(checker):
    scheduler = make_scheduler(checker, reap_every=5, ping_every=30)

    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"reap", "ping"}
    assert jobs["reap"].func == checker.reap
    assert jobs["ping"].func == checker.ping
    assert jobs["reap"].trigger.interval == dt.timedelta(seconds=5)
    assert jobs["ping"].trigger.interval == dt.timedelta(seconds=30)
    # APScheduler applies job defaults only when a job reaches its store, i.e. on start: start
    # paused (nothing runs) to read them
    scheduler.start(paused=True)
    try:
        for job in scheduler.get_jobs():
            assert (job.max_instances, job.coalesce) == (1, True)
    finally:
        scheduler.shutdown(wait=False)
