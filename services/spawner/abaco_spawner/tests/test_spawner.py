"""Unit tests of the spawner: one command at a time, on fakes (mongomock, memory broker, FakeDocker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pytest

from abaco_shared import actors, executions, workers
from abaco_shared.channels import CommandChannel, SpawnerWorkerChannel, WorkerChannel
from abaco_shared.config import HostConfig, SpawnerConfig
from abaco_shared.enums import ActorStatus, ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.errors import ChannelTimeout
from abaco_shared.ids import new_id
from abaco_shared.messages import SpawnCommand
from abaco_shared.models import Worker
from abaco_shared.testing import FakeDelivery, FakeDocker, InlineExecutor
from abaco_shared.workflows.scaling import request_worker
from abaco_spawner.spawner import Spawner

IMAGE = "abaco/echo:latest"
HOST = HostConfig(host_id="h1", host_ip="10.0.0.7", docker_url="unix:///run/test-docker.sock")


# -- helpers ---------------------------------------------------------------------------------


@dataclass
class HookedDocker(FakeDocker):
    """A FakeDocker that runs a hook inside image_present / pull (to act "during setup")."""

    on_check: Callable[[str], None] | None = None
    on_pull: Callable[[str], None] | None = None

    def image_present(self, image: str) -> bool:
        if self.on_check is not None:
            self.on_check(image)
        return super().image_present(image)

    def pull(self, image: str, auth: dict[str, str] | None = None) -> None:
        if self.on_pull is not None:
            self.on_pull(image)
        super().pull(image, auth)


class FakeLauncher:
    """Records (worker_id, actor_dbid, worker status at launch) and the extra environment of
    each launch, and returns increasing pids. Also the spawner's ProcessProbe: the processes it
    launched are alive (until ``kill``), and so are the spawners named in ``spawners``. With a
    ``broker``, each launched worker waits for its READY and becomes READY, as a real one does."""

    def __init__(self, then: Callable[[str, str], None] | None = None, broker=None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.envs: list[dict[str, str]] = []
        self.then = then
        self.alive: dict[str, int] = {}  # worker_id -> pid of its running process
        self.spawners: set[str] = set()
        self.broker = broker

    def __call__(self, worker_id: str, actor_dbid: str, env: Mapping[str, str]) -> int:
        record = workers.get_for_actor(actor_dbid, worker_id)
        self.calls.append((worker_id, actor_dbid, record.status if record else "<gone>"))
        self.envs.append(dict(env))
        if self.then is not None:
            self.then(worker_id, actor_dbid)
        pid = self.alive[worker_id] = 4000 + len(self.calls)
        if self.broker is not None:
            threading.Thread(target=self.serve, args=(worker_id, actor_dbid), daemon=True).start()
        return pid

    def serve(self, worker_id: str, actor_dbid: str) -> None:
        try:
            ready = SpawnerWorkerChannel(self.broker, worker_id).wait_ready(5)
        except ChannelTimeout:
            return
        if ready.status == "READY":
            workers.set_status(workers.key_for(actor_dbid, worker_id), WorkerStatus.READY)

    def kill(self, worker_id: str) -> None:
        self.alive.pop(worker_id, None)

    def worker_pid(self, worker_id: str, pid: int | None) -> int | None:
        live = self.alive.get(worker_id)
        return live if live is not None and pid in (None, live) else None

    def spawner_alive(self, token: str) -> bool:
        return token in self.spawners

    def pid_alive(self, pid: int) -> bool:
        return pid in self.alive.values()


def drain(broker, queue) -> list[dict]:
    """Every message now on ``queue`` (never waits)."""
    bodies = []
    while True:
        try:
            bodies.append(broker.get(queue, timeout=0))
        except ChannelTimeout:
            return bodies


def barrier(broker, worker_id: str) -> list[str]:
    ch = SpawnerWorkerChannel(broker, worker_id)
    return [body["status"] for body in drain(broker, ch.queue)]


def request(actor, broker, stop_existing: bool = False) -> tuple[Worker, SpawnCommand]:
    """Request a worker the way the platform does and take the command it published."""
    worker = request_worker(actor, broker, stop_existing=stop_existing)
    body = broker.get(CommandChannel(broker, actor.queue).queue, timeout=0)
    return worker, SpawnCommand.from_dict(body)


def status_of(worker: Worker) -> str | None:
    record = workers.get(worker.db_id)
    return record.status if record else None


def force_status(worker: Worker, status: WorkerStatus, **fields) -> None:
    updates = {f"set__{k}": v for k, v in fields.items()}
    Worker.objects(db_id=worker.db_id).update_one(set__status=status.value, **updates)


@pytest.fixture
def actor(mongo):
    return actors.create("dev", "alice", {"image": IMAGE})


@pytest.fixture
def launcher():
    return FakeLauncher()


@pytest.fixture
def make_spawner(broker, docker, launcher):
    def make(docker=docker, launch=launcher, **cfg) -> Spawner:
        cfg.setdefault("pull_backoff", 0)
        cfg.setdefault("worker_ready_timeout", 0.2)  # fake workers never say READY unless they serve
        probe = launch if isinstance(launch, FakeLauncher) else launcher
        return Spawner(
            SpawnerConfig(**cfg), HOST, broker, docker, launch,
            pulls=InlineExecutor(), spawns=InlineExecutor(), probe=probe,
        )  # fmt: skip

    return make


@pytest.fixture
def spawner(make_spawner):
    return make_spawner()


def submit(actor, worker_id: str = "") -> str:
    ex = executions.submit(actor, new_id(), "alice", "str", "hello", {})
    if worker_id:
        executions.claim(ex.db_id, worker_id)
    return ex.db_id


# -- handle: the happy path and pull policies ------------------------------------------------


def test_handle_starts_the_worker_and_records_where_it_runs(actor, broker, make_spawner, launcher):
    worker, cmd = request(actor, broker)
    seen = []
    docker = HookedDocker(images={IMAGE}, on_check=lambda image: seen.append(status_of(worker)))

    assert make_spawner(docker=docker).handle(cmd) is True

    assert seen == [WorkerStatus.SPAWNER_SETUP]
    assert launcher.calls == [(worker.worker_id, actor.db_id, WorkerStatus.CREATING_CONTAINER)]
    record = workers.get(worker.db_id)
    assert record.status == WorkerStatus.UPDATING_STORE
    assert (record.pid, record.host_id, record.host_ip, record.location) == (4001, "h1", "10.0.0.7", HOST.docker_url)
    assert record.last_health_check_time is not None
    assert barrier(broker, worker.worker_id) == ["READY"]
    assert ("pull", IMAGE) not in docker.calls


def test_handle_pulls_a_missing_image_with_if_not_present(actor, broker, make_spawner, launcher):
    worker, cmd = request(actor, broker)
    during_pull = []
    docker = HookedDocker(on_pull=lambda image: during_pull.append(status_of(worker)))
    spawner = make_spawner(docker=docker, pull_policy="if-not-present")

    assert spawner.handle(cmd) is True

    assert docker.calls == [("image_present", IMAGE), ("pull", IMAGE)]
    assert during_pull == [WorkerStatus.PULLING_IMAGE]
    assert launcher.calls[0][2] == WorkerStatus.CREATING_CONTAINER  # PULLING IMAGE -> CREATING CONTAINER
    assert status_of(worker) == WorkerStatus.UPDATING_STORE
    assert barrier(broker, worker.worker_id) == ["READY"]


def test_handle_always_pulls_with_policy_always(actor, broker, make_spawner, docker, launcher):
    worker, cmd = request(actor, broker)
    spawner = make_spawner(pull_policy="always")

    assert spawner.handle(cmd) is True

    assert ("pull", IMAGE) in docker.calls
    assert len(launcher.calls) == 1


def test_a_pull_logs_in_with_the_credentials_of_the_images_registry(actor, broker, make_spawner, docker, tmp_path):
    path = tmp_path / "registries.json"
    path.write_text('{"auths": {"docker.io": {"username": "hub", "password": "pw"}}}')
    worker, cmd = request(actor, broker)

    assert make_spawner(pull_policy="always", registry_auth_file=str(path)).handle(cmd) is True

    assert docker.pull_auths == [{"username": "hub", "password": "pw"}]


def test_policy_never_starts_a_worker_when_the_image_is_local(actor, broker, make_spawner, docker, launcher):
    worker, cmd = request(actor, broker)

    assert make_spawner(pull_policy="never").handle(cmd) is True

    assert ("pull", IMAGE) not in docker.calls
    assert len(launcher.calls) == 1


@pytest.mark.parametrize(
    "policy, docker_kwargs",
    [("never", {}), ("if-not-present", {"pull_error": "manifest unknown"}), ("always", {"pull_error": "denied"})],
    ids=["never-and-absent", "pull-fails", "always-pull-fails"],
)
def test_unavailable_image_fails_the_actor(actor, broker, make_spawner, launcher, policy, docker_kwargs):
    waiting = submit(actor)
    claimed = submit(actor, worker_id="W-other")
    worker, cmd = request(actor, broker)
    docker = FakeDocker(**docker_kwargs)

    make_spawner(docker=docker, pull_policy=policy).handle(cmd)  # the pull runs beside the consumer

    failed = actors.get(actor.db_id)
    assert failed.status == ActorStatus.ERROR
    assert "h1" in failed.status_message and IMAGE in failed.status_message
    assert workers.get(worker.db_id) is None
    assert launcher.calls == []
    assert barrier(broker, worker.worker_id) == []
    ended = executions.get_by_key(waiting)
    assert (ended.status, ended.outcome) == (ExecutionStatus.ERROR, ExecutionOutcome.NOT_STARTED)
    assert ended.status_message == failed.status_message
    assert executions.get_by_key(claimed).status == ExecutionStatus.SUBMITTED  # a worker has it
    if policy == "never":
        assert ("pull", IMAGE) not in docker.calls
    else:
        assert docker.calls.count(("pull", IMAGE)) == 2, "a failed pull is tried pull_attempts times"


# -- handle: commands that must be dropped ----------------------------------------------------


@pytest.mark.parametrize("state", ["missing", ActorStatus.ERROR, ActorStatus.SHUTTING_DOWN])
def test_command_for_a_missing_failed_or_departing_actor_is_dropped(actor, broker, spawner, launcher, docker, state):
    worker, cmd = request(actor, broker)
    if state == "missing":
        actors.delete(actor.db_id)
    else:
        actors.set_status(actor.db_id, state)

    assert spawner.handle(cmd) is False

    assert workers.get(worker.db_id) is None
    assert launcher.calls == []
    assert docker.calls == []
    assert barrier(broker, worker.worker_id) == []


@pytest.mark.parametrize("status", [WorkerStatus.SPAWNER_SETUP, WorkerStatus.READY, WorkerStatus.SHUTDOWN_REQUESTED])
def test_stale_command_is_dropped_and_the_record_left_alone(actor, broker, spawner, launcher, status):
    worker, cmd = request(actor, broker)
    force_status(worker, status, host_id="h2")

    assert spawner.handle(cmd) is False

    record = workers.get(worker.db_id)
    assert (record.status, record.host_id) == (status, "h2")
    assert launcher.calls == []


def test_command_for_a_deleted_worker_is_dropped(actor, broker, spawner, launcher):
    worker, cmd = request(actor, broker)
    workers.delete(worker.db_id)

    assert spawner.handle(cmd) is False
    assert launcher.calls == []
    assert workers.get(worker.db_id) is None


def test_a_redelivered_command_starts_no_second_worker(actor, broker, spawner, launcher):
    worker, cmd = request(actor, broker)
    assert spawner.handle(cmd) is True

    assert spawner.handle(cmd) is True  # its live process is adopted (and told READY again)

    assert len(launcher.calls) == 1
    assert workers.get(worker.db_id).pid == 4001
    assert barrier(broker, worker.worker_id) == ["READY", "READY"]


@pytest.mark.parametrize("moment", ["image check", "pull"])
def test_worker_stopped_during_setup_is_not_started(actor, broker, make_spawner, launcher, moment):
    worker, cmd = request(actor, broker)

    def stop(image):
        workers.set_status(worker.db_id, WorkerStatus.SHUTDOWN_REQUESTED)

    docker = HookedDocker(images=set() if moment == "pull" else {IMAGE})
    if moment == "pull":
        docker.on_pull = stop
    else:
        docker.on_check = stop

    started = make_spawner(docker=docker).handle(cmd)

    assert started is (moment == "pull")  # a pull is handed off; the start after it is refused
    assert launcher.calls == []
    assert workers.get(worker.db_id) is None
    assert barrier(broker, worker.worker_id) == []
    assert actors.get(actor.db_id).status == ActorStatus.SUBMITTED


@pytest.mark.parametrize("change", ["deleted", "stopped"])
def test_worker_whose_record_changes_during_launch_is_cancelled(actor, broker, make_spawner, change):
    def meddle(worker_id, actor_dbid):
        key = workers.key_for(actor_dbid, worker_id)
        if change == "deleted":
            workers.delete(key)
        else:
            workers.set_status(key, WorkerStatus.SHUTDOWN_REQUESTED)

    launcher = FakeLauncher(then=meddle)
    worker, cmd = request(actor, broker)

    assert make_spawner(launch=launcher).handle(cmd) is False

    assert len(launcher.calls) == 1
    assert barrier(broker, worker.worker_id) == ["CANCELLED"]
    record = workers.get(worker.db_id)
    if change == "deleted":
        assert record is None
    else:
        assert record.status == WorkerStatus.SHUTDOWN_REQUESTED


def test_stop_existing_replaces_the_other_workers(actor, broker, spawner, launcher):
    ready, _ = request(actor, broker)
    force_status(ready, WorkerStatus.READY, host_id="h1", pid=11)
    busy, _ = request(actor, broker)
    force_status(busy, WorkerStatus.BUSY, host_id="h2", pid=12)
    waiting, _ = request(actor, broker)  # REQUESTED: never started, so it is simply deleted
    other_actor = actors.create("dev", "alice", {"image": IMAGE})
    bystander, _ = request(other_actor, broker)
    force_status(bystander, WorkerStatus.READY, host_id="h1", pid=13)
    new, cmd = request(actor, broker, stop_existing=True)

    assert spawner.handle(cmd) is True

    assert status_of(new) == WorkerStatus.UPDATING_STORE
    for old in (ready, busy):
        assert status_of(old) == WorkerStatus.SHUTDOWN_REQUESTED
        assert drain(broker, WorkerChannel(broker, old.worker_id).queue) == [
            {"command": "stop-no-delete", "execution_id": "", "v": 1}
        ]
    assert workers.get(waiting.db_id) is None
    assert status_of(bystander) == WorkerStatus.READY
    assert drain(broker, WorkerChannel(broker, bystander.worker_id).queue) == []
    assert drain(broker, WorkerChannel(broker, new.worker_id).queue) == []


# -- on_command: the consumer callback ---------------------------------------------------------


def test_on_command_handles_and_acks_once_the_worker_is_ready(actor, broker, make_spawner):
    launcher = FakeLauncher(broker=broker)
    worker, cmd = request(actor, broker)
    delivery = FakeDelivery(body=cmd.to_dict())

    make_spawner(launch=launcher).on_command(cmd.to_dict(), delivery)

    assert delivery.settled == "ack"
    assert [c[0] for c in launcher.calls] == [worker.worker_id]
    assert status_of(worker) == WorkerStatus.READY


def test_on_command_acks_when_the_worker_never_gets_ready(actor, broker, make_spawner, launcher):
    worker, cmd = request(actor, broker)
    delivery = FakeDelivery()
    spawner = make_spawner(worker_ready_timeout=0.3)

    spawner.on_command(cmd.to_dict(), delivery)

    assert delivery.settled == "ack"  # bounded: health's start-up timeout decides
    record = workers.get(worker.db_id)
    assert (record.status, record.spawner) == (WorkerStatus.UPDATING_STORE, "")


def test_on_command_acks_when_the_worker_process_exits_before_ready(actor, broker, make_spawner, launcher):
    worker, cmd = request(actor, broker)
    delivery = FakeDelivery()

    def launch(worker_id, actor_dbid, env):
        pid = launcher(worker_id, actor_dbid, env)
        launcher.kill(worker_id)  # it died at once
        return pid

    make_spawner(launch=launch, worker_ready_timeout=30).on_command(cmd.to_dict(), delivery)

    assert delivery.settled == "ack"
    assert workers.get(worker.db_id).spawner == ""  # health's reaper of dead pids replaces it


def test_on_command_requeues_at_host_capacity(actor, broker, make_spawner, launcher):
    spawner = make_spawner(max_workers_per_host=2)
    for status in (WorkerStatus.READY, WorkerStatus.SPAWNER_SETUP):
        running, _ = request(actor, broker)
        force_status(running, status, host_id="h1")
    worker, cmd = request(actor, broker)
    delivery = FakeDelivery()

    spawner.on_command(cmd.to_dict(), delivery)

    assert delivery.settled == "requeue"
    assert launcher.calls == []
    assert status_of(worker) == WorkerStatus.REQUESTED


def test_capacity_counts_only_this_hosts_running_workers(actor, broker, make_spawner, launcher):
    spawner = make_spawner(max_workers_per_host=1)
    elsewhere, _ = request(actor, broker)
    force_status(elsewhere, WorkerStatus.READY, host_id="h2")
    stopping, _ = request(actor, broker)
    force_status(stopping, WorkerStatus.SHUTDOWN_REQUESTED, host_id="h1", pid=5)
    worker, cmd = request(actor, broker)
    delivery = FakeDelivery()

    spawner.on_command(cmd.to_dict(), delivery)

    assert delivery.settled == "ack"
    assert status_of(worker) == WorkerStatus.UPDATING_STORE


@pytest.mark.parametrize(
    "body",
    [{}, {"v": 1, "actor_id": "dev_A"}, {"v": 2, "actor_id": "a", "worker_id": "w", "image": "i", "revision": 1}],
    ids=["empty", "missing-fields", "wrong-version"],
)
def test_on_command_acks_a_bad_body(spawner, mongo, launcher, body):
    delivery = FakeDelivery()

    spawner.on_command(body, delivery)

    assert delivery.settled == "ack"
    assert launcher.calls == []


def test_on_command_survives_a_body_that_is_not_an_object(spawner, mongo):
    delivery = FakeDelivery()

    spawner.on_command(["not", "an", "object"], delivery)

    assert delivery.settled == "ack"


def test_on_command_acks_after_an_unexpected_exception(actor, broker, make_spawner):
    def crash(worker_id, actor_dbid, env):
        raise RuntimeError("fork failed")

    worker, cmd = request(actor, broker)
    delivery = FakeDelivery()

    make_spawner(launch=crash).on_command(cmd.to_dict(), delivery)

    assert delivery.settled == "ack"
    assert barrier(broker, worker.worker_id) == []


def test_a_pull_never_blocks_the_command_consumer(actor, broker):
    """A slow registry: the worker waits in PULLING IMAGE in the pull pool, which settles its
    command once the worker is READY (so a spawner killed mid-pull gets the command again)."""
    launcher = FakeLauncher(broker=broker)
    worker, cmd = request(actor, broker)
    queued = []

    class Pool:
        def submit(self, fn, *args):
            queued.append((fn, args))

    spawner = Spawner(
        SpawnerConfig(pull_backoff=0), HOST, broker, FakeDocker(), launcher,
        pulls=Pool(), spawns=InlineExecutor(), probe=launcher,
    )  # fmt: skip
    delivery = FakeDelivery()
    spawner.on_command(cmd.to_dict(), delivery)
    assert delivery.settled == "" and launcher.calls == []
    assert status_of(worker) == WorkerStatus.PULLING_IMAGE
    fn, args = queued.pop()
    fn(*args)  # the pull finishes later, in its pool thread
    assert status_of(worker) == WorkerStatus.READY and len(launcher.calls) == 1
    spawner.flush()  # the consumer thread acks
    assert delivery.settled == "ack"


def test_two_workers_of_one_image_pull_it_once(actor, broker, launcher):
    docker = HookedDocker(images=set())
    spawner = Spawner(SpawnerConfig(worker_ready_timeout=0.1), HOST, broker, docker, launcher, probe=launcher)
    release = threading.Event()
    docker.on_pull = lambda image: release.wait(5)
    (w1, c1), (w2, c2) = request(actor, broker), request(actor, broker)
    spawner.handle(c1)
    spawner.handle(c2)
    release.set()
    spawner.pulls.shutdown(wait=True)
    assert docker.calls.count(("pull", IMAGE)) == 1
    assert status_of(w1) == status_of(w2) == WorkerStatus.UPDATING_STORE
