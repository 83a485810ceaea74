"""A spawner killed part way through a start: the redelivered command resumes it (on fakes).

The record is left as a dead spawner leaves it (its status, host, pid, and the dead spawner's
token); the command is then delivered again to a new spawner, whose probe says which worker
processes and spawners are alive.
"""

from __future__ import annotations

import threading
import time

import pytest

from abaco_shared import actors, workers
from abaco_shared.channels import CommandChannel
from abaco_shared.config import SpawnerConfig
from abaco_shared.enums import WorkerStatus
from abaco_shared.models import Worker
from abaco_shared.testing import FakeDelivery, FakeDocker, InlineExecutor
from abaco_spawner.spawner import Spawner, Step

from .test_spawner import HOST, IMAGE, FakeLauncher, barrier, force_status, request, status_of

S = WorkerStatus
STARTING = [S.SPAWNER_SETUP, S.PULLING_IMAGE, S.CREATING_CONTAINER, S.UPDATING_STORE]
DEAD_SPAWNER = "h1:999999:0dead0"
LIVE_SPAWNER = "h1:888888:a11ve0"
ORPHAN_PID = 777


@pytest.fixture
def actor(mongo):
    return actors.create("dev", "alice", {"image": IMAGE})


@pytest.fixture
def launcher(broker):
    return FakeLauncher(broker=broker)  # launched workers wait for READY, then become READY


@pytest.fixture
def make(broker, launcher):
    def make(docker=None, **cfg) -> Spawner:
        cfg.setdefault("worker_ready_timeout", 2.0)
        cfg.setdefault("start_timeout", 3.0)
        return Spawner(
            SpawnerConfig(pull_backoff=0, **cfg), HOST, broker, docker or FakeDocker(images={IMAGE}), launcher,
            pulls=InlineExecutor(), spawns=InlineExecutor(), probe=launcher,
        )  # fmt: skip

    return make


def left_by_a_dead_spawner(actor, broker, status: WorkerStatus, pid: int | None = None, spawner=DEAD_SPAWNER):
    worker, cmd = request(actor, broker)
    force_status(worker, status, host_id="h1", pid=pid, spawner=spawner)
    return worker, cmd


def orphan(launcher: FakeLauncher, broker, worker: Worker) -> None:
    """A worker process the dead spawner launched: alive, waiting for its READY."""
    launcher.alive[worker.worker_id] = ORPHAN_PID
    threading.Thread(target=launcher.serve, args=(worker.worker_id, worker.actor_dbid), daemon=True).start()


def deliver(spawner: Spawner, cmd) -> FakeDelivery:
    delivery = FakeDelivery()
    spawner.on_command(cmd.to_dict(), delivery)
    spawner.flush()
    return delivery


# -- each starting status x its worker process alive or gone ----------------------------------


@pytest.mark.parametrize("status", STARTING, ids=lambda s: s.name)
def test_a_live_worker_process_is_adopted_not_started_again(actor, broker, make, launcher, status):
    # a recorded pid only from UPDATING STORE on; before that it is found by its environment
    worker, cmd = left_by_a_dead_spawner(actor, broker, status, pid=ORPHAN_PID if status is S.UPDATING_STORE else None)
    orphan(launcher, broker, worker)
    spawner = make()

    delivery = deliver(spawner, cmd)

    assert delivery.settled == "ack"
    assert launcher.calls == []
    record = workers.get(worker.db_id)
    assert (record.status, record.pid, record.spawner) == (S.READY, ORPHAN_PID, spawner.token)


@pytest.mark.parametrize("status", STARTING, ids=lambda s: s.name)
def test_a_gone_worker_process_is_started_again_once(actor, broker, make, launcher, status):
    worker, cmd = left_by_a_dead_spawner(actor, broker, status, pid=ORPHAN_PID if status is S.UPDATING_STORE else None)
    spawner = make()

    delivery = deliver(spawner, cmd)

    assert delivery.settled == "ack"
    assert [(wid, st) for wid, _, st in launcher.calls] == [(worker.worker_id, S.CREATING_CONTAINER)]
    record = workers.get(worker.db_id)
    assert (record.status, record.pid, record.host_id) == (S.READY, 4001, "h1")


def test_a_start_interrupted_mid_pull_pulls_again_then_starts(actor, broker, make, launcher):
    worker, cmd = left_by_a_dead_spawner(actor, broker, S.PULLING_IMAGE)
    docker = FakeDocker()  # the image never arrived

    delivery = deliver(make(docker=docker), cmd)

    assert ("pull", IMAGE) in docker.calls
    assert delivery.settled == "ack" and len(launcher.calls) == 1
    assert status_of(worker) == S.READY


@pytest.mark.parametrize("status", [S.READY, S.BUSY])
def test_a_worker_already_serving_is_just_acked(actor, broker, make, launcher, status):
    worker, cmd = left_by_a_dead_spawner(actor, broker, status, pid=ORPHAN_PID)

    delivery = deliver(make(), cmd)

    assert delivery.settled == "ack" and launcher.calls == []
    assert barrier(broker, worker.worker_id) == []
    assert status_of(worker) == status


@pytest.mark.parametrize("status", [S.SHUTDOWN_REQUESTED, S.SHUTTING_DOWN, S.ERROR])
def test_a_stopping_or_failed_worker_is_dropped(actor, broker, make, launcher, status):
    worker, cmd = left_by_a_dead_spawner(actor, broker, status)

    assert deliver(make(), cmd).settled == "ack"
    assert launcher.calls == [] and status_of(worker) == status


def test_a_record_from_before_the_spawner_field_is_resumed(actor, broker, make, launcher):
    worker, cmd = request(actor, broker)
    force_status(worker, S.CREATING_CONTAINER, host_id="h1")
    Worker.objects(db_id=worker.db_id).update_one(unset__spawner=True)

    assert deliver(make(), cmd).settled == "ack"
    assert len(launcher.calls) == 1 and status_of(worker) == S.READY


# -- who may resume it -----------------------------------------------------------------------


def test_a_start_a_live_spawner_drives_is_waited_for_not_taken_over(actor, broker, make, launcher):
    worker, cmd = left_by_a_dead_spawner(actor, broker, S.CREATING_CONTAINER, spawner=LIVE_SPAWNER)
    launcher.spawners.add(LIVE_SPAWNER)
    spawner = make(start_timeout=0.5)

    def the_other_spawner_finishes():
        time.sleep(0.2)
        force_status(worker, S.READY, pid=99)

    threading.Thread(target=the_other_spawner_finishes, daemon=True).start()
    assert spawner.drive(cmd, time.monotonic() + 2) is Step.SERVING
    assert launcher.calls == []
    assert workers.get(worker.db_id).spawner == LIVE_SPAWNER


def test_a_start_whose_live_spawner_dies_meanwhile_is_resumed(actor, broker, make, launcher):
    worker, cmd = left_by_a_dead_spawner(actor, broker, S.SPAWNER_SETUP, spawner=LIVE_SPAWNER)
    launcher.spawners.add(LIVE_SPAWNER)
    threading.Timer(0.2, launcher.spawners.clear).start()

    assert deliver(make(), cmd).settled == "ack"
    assert len(launcher.calls) == 1 and status_of(worker) == S.READY


def test_a_start_on_another_host_is_never_taken_over(actor, broker, make, launcher):
    worker, cmd = request(actor, broker)
    force_status(worker, S.CREATING_CONTAINER, host_id="h2", spawner="h2:1:x")

    assert make(start_timeout=0.3).drive(cmd, time.monotonic() + 0.3) is Step.ELSEWHERE
    assert launcher.calls == []
    record = workers.get(worker.db_id)
    assert (record.status, record.host_id, record.spawner) == (S.CREATING_CONTAINER, "h2", "h2:1:x")


def test_two_spawners_resuming_one_start_start_it_once(actor, broker, make, launcher):
    worker, cmd = left_by_a_dead_spawner(actor, broker, S.CREATING_CONTAINER)
    first, second = make(), make()
    seen = workers.get(worker.db_id)

    assert workers.take_over(seen, S.SPAWNER_SETUP, pid=None, spawner=first.token) is True
    assert workers.take_over(seen, S.SPAWNER_SETUP, pid=None, spawner=second.token) is False
    launcher.spawners.add(first.token)  # the first one is alive and drives it: the second waits
    assert second.advance(cmd) is Step.ELSEWHERE
    assert launcher.calls == []


def test_a_redelivery_after_a_reconnect_waits_for_the_start_in_hand(actor, broker, launcher):
    """The same spawner gets the command again (its broker connection dropped) while a thread
    still starts the worker: the second delivery waits, and nothing starts twice."""
    gate = threading.Event()
    slow = FakeLauncher(broker=broker, then=lambda worker_id, actor_dbid: gate.wait(5))
    spawner = Spawner(
        SpawnerConfig(worker_ready_timeout=2, start_timeout=5), HOST, broker, FakeDocker(images={IMAGE}), slow,
        pulls=InlineExecutor(), probe=slow,
    )  # fmt: skip
    worker, cmd = request(actor, broker)
    lost, again = FakeDelivery(), FakeDelivery()
    spawner.on_command(cmd.to_dict(), lost)
    time.sleep(0.1)
    spawner.on_command(cmd.to_dict(), again)
    time.sleep(0.1)
    spawner.flush()
    assert (lost.settled, again.settled) == ("", "")
    gate.set()
    for _ in range(100):
        spawner.flush()
        if again.settled:
            break
        time.sleep(0.05)
    assert (lost.settled, again.settled) == ("ack", "ack")
    assert len(slow.calls) == 1 and status_of(worker) == S.READY
    spawner.spawns.shutdown(wait=True)


def test_starts_run_side_by_side(actor, broker):
    """A slow worker start does not hold up the next command: several starts run at once."""
    gate = threading.Event()
    slow = FakeLauncher(broker=broker, then=lambda worker_id, actor_dbid: gate.wait(5))
    spawner = Spawner(
        SpawnerConfig(worker_ready_timeout=2, max_parallel_spawns=4), HOST, broker, FakeDocker(images={IMAGE}), slow,
        probe=slow,
    )  # fmt: skip
    commands = [request(actor, broker)[1] for _ in range(3)]
    deliveries = [FakeDelivery() for _ in commands]
    for cmd, delivery in zip(commands, deliveries, strict=True):
        spawner.on_command(cmd.to_dict(), delivery)
    for _ in range(100):
        if len(slow.calls) == 3:
            break
        time.sleep(0.02)
    assert len(slow.calls) == 3, "all three launched while none was READY"
    gate.set()
    spawner.spawns.shutdown(wait=True)
    spawner.flush()
    assert [d.settled for d in deliveries] == ["ack"] * 3


# -- through the real consumer loop (kombu's memory transport) ---------------------------------


def run_spawner(spawner: Spawner) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=spawner.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_command_is_held_until_the_worker_is_ready_and_resumed_after_a_crash(actor, broker):
    """The first spawner dies (its consumer goes away) while its worker waits for READY: its
    delivery was never acked, so RabbitMQ hands the command out again (re-published here: the
    memory transport does not restore unacked messages); the next spawner adopts the worker
    instead of starting another, and acks the command once the worker is READY."""
    cfg = SpawnerConfig(worker_ready_timeout=30, start_timeout=60)
    first_launch = FakeLauncher()  # its worker never gets READY: the first spawner dies first
    first = Spawner(cfg, HOST, broker, FakeDocker(images={IMAGE}), first_launch, probe=first_launch)
    taken = []
    on_command = first.on_command
    first.on_command = lambda body, delivery: (taken.append(delivery), on_command(body, delivery))[1]
    worker, cmd = request(actor, broker)
    queue = CommandChannel(broker, "default").queue
    broker.publish(queue, cmd.to_dict())
    stop, thread = run_spawner(first)
    assert wait_for(lambda: status_of(worker) == S.UPDATING_STORE)
    time.sleep(0.5)  # idle polls of the consumer: nothing to ack yet
    stop.set()  # the spawner "dies": its consumer and its threads stop
    thread.join(5)
    (delivery,) = taken
    assert not delivery.acknowledged, "held while the worker was not READY"

    broker.publish(queue, cmd.to_dict())  # the redelivery
    survivor = FakeLauncher(broker=broker)
    survivor.alive = dict(first_launch.alive)  # the worker process still runs, waiting for READY
    threading.Thread(target=survivor.serve, args=(worker.worker_id, actor.db_id), daemon=True).start()
    second = Spawner(cfg, HOST, broker, FakeDocker(images={IMAGE}), survivor, probe=survivor)
    taken2 = []
    on_command2 = second.on_command
    second.on_command = lambda body, delivery: (taken2.append(delivery), on_command2(body, delivery))[1]
    stop2, thread2 = run_spawner(second)
    try:
        assert wait_for(lambda: status_of(worker) == S.READY)
        assert survivor.calls == [] and len(first_launch.calls) == 1, "adopted, never started twice"
        assert wait_for(lambda: bool(taken2) and taken2[0].acknowledged), "acked once the worker was READY"
    finally:
        stop2.set()
        thread2.join(5)
