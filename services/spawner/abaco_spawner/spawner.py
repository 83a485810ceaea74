"""The spawner: takes commands from its host queues and starts worker processes.

Ack policy: a command is acked only once its worker is READY or has definitely failed (or the
command was found stale), at most ``start_timeout`` seconds after it arrived. A spawner killed at
any point gets the command again (RabbitMQ hands back what a dead consumer held) and resumes the
start from the worker record: READY (or later) is just acked; a record still starting (SPAWNER
SETUP .. UPDATING STORE) whose spawner is gone is taken over with a conditional update from the
status, pid and spawner seen, so that only one spawner resumes it; then a worker process that
is alive (its recorded pid, or one found by its environment when the pid was never recorded) is
adopted and gets its READY again, and one that is not is started again from SPAWNER SETUP. A
start that a live spawner still drives (another process, or this one after a reconnect) is
waited for. Health reaps a starting worker after ``health.startup_timeout``, but gives one whose
spawner is alive ``health.spawning_grace``.

Commands are handled beside the consumer, ``max_parallel_spawns`` at once (each launches its
worker and waits for its READY); deliveries are acked by the consumer thread, the only one that
may touch its channel. ``command_prefetch`` commands are held unacked at once.

Image pulls never run on the consuming thread nor hold a start slot: a worker whose image must be
pulled is handed to a small pool (PULLING IMAGE), whose thread then starts it and settles its
command, so a slow or silent registry delays only the actors that use it. A pull that fails
(bounded tries, each ending after ``pull_timeout`` seconds without progress) puts its actor in
ERROR with a message naming this host.

A worker of an actor with ``token`` on gets a credential from clientg (request/reply on the
clients channel) just before it is launched, in its process environment; the actor's containers
never see it. Without an answer in time the worker still starts, without one (its executions get
an empty token, and say so in the worker log); actors without ``token`` never wait for clientg.
"""

from __future__ import annotations

import enum
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Protocol

from abaco_shared import actors, executions, workers
from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import ClientsChannel, CommandChannel, SpawnerWorkerChannel
from abaco_shared.config import HostConfig, SpawnerConfig
from abaco_shared.containers import DockerApi
from abaco_shared.enums import WorkerCommandName, WorkerStatus
from abaco_shared.errors import AbacoError, DockerError
from abaco_shared.events import EventPublisher
from abaco_shared.messages import SpawnCommand
from abaco_shared.models import Actor, Worker, utcnow
from abaco_shared.outages import store_of
from abaco_shared.runtime import pid_alive, spawner_alive, spawner_token, worker_process
from abaco_shared.workflows.scaling import stop_workers

from .credentials import WorkerCredentials
from .images import ImagePuller

__all__ = ["Spawner", "Launcher", "ProcessProbe", "HostProcesses", "Step"]

log = logging.getLogger(__name__)

# starts a worker process for (worker_id, actor_dbid) with extra environment; returns its pid
Launcher = Callable[[str, str, Mapping[str, str]], int]
CAPACITY_PAUSE = 5.0
POLL_FIRST, POLL_MAX = 0.05, 0.5  # the wait for a worker's READY polls its record this often

S = WorkerStatus
SERVING = {S.READY.value, S.BUSY.value}
# a start that may be resumed: the spawner handling it may have died part way
RESUMABLE = {S.SPAWNER_SETUP.value, S.PULLING_IMAGE.value, S.CREATING_CONTAINER.value, S.UPDATING_STORE.value}


class Step(enum.Enum):
    """What one look at a command's worker record led to."""

    DROPPED = "dropped"  # stale, gone, or its actor cannot take work: ack
    SERVING = "serving"  # the worker is READY or later: ack
    STARTED = "started"  # launched or adopted, READY sent: ack once it is READY or failed
    PULLING = "pulling"  # handed to the pull pool, which settles the command
    ELSEWHERE = "elsewhere"  # a live spawner (another one, or another host's) drives it: wait
    FULL = "full"  # this host is at capacity: requeue


class ProcessProbe(Protocol):
    """What the spawner may learn about processes on its host."""

    def worker_pid(self, worker_id: str, pid: int | None) -> int | None:
        """The live process of the worker (its recorded ``pid``, or one found), or None."""

    def spawner_alive(self, token: str) -> bool:
        """True when the spawner that wrote ``token`` into a worker record is still running."""

    def pid_alive(self, pid: int) -> bool:
        """True while the process ``pid`` (a worker this spawner just launched) runs."""


class HostProcesses:
    """The real :class:`ProcessProbe`, from /proc."""

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id

    def worker_pid(self, worker_id: str, pid: int | None) -> int | None:
        return worker_process(worker_id, pid)

    def spawner_alive(self, token: str) -> bool:
        return spawner_alive(token, self.host_id)

    def pid_alive(self, pid: int) -> bool:
        return pid_alive(pid)


class Spawner:
    """Starts workers on this host for the command queues it serves."""

    def __init__(
        self,
        cfg: SpawnerConfig,
        host: HostConfig,
        broker: Broker,
        docker: DockerApi,
        launch: Launcher,
        pulls: Executor | None = None,
        clientg_timeout: float = 10.0,
        clients: ClientsChannel | None = None,
        spawns: Executor | None = None,
        probe: ProcessProbe | None = None,
    ) -> None:
        self.cfg = cfg
        self.host = host
        self.broker = broker
        self.docker = docker
        self.launch = launch
        self.credentials = WorkerCredentials(clients or ClientsChannel(broker), clientg_timeout)
        self.pulls = pulls or ThreadPoolExecutor(max(1, cfg.max_parallel_pulls), thread_name_prefix="pull")
        self.spawns = spawns or ThreadPoolExecutor(max(1, cfg.max_parallel_spawns), thread_name_prefix="spawn")
        self.probe = probe or HostProcesses(host.host_id)
        self.token = spawner_token(host.host_id)  # written into the records of the starts it drives
        self._capacity_guard = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}  # worker keys whose start a thread here drives
        self._inflight_guard = threading.Lock()
        self._settled: queue.SimpleQueue[tuple[Delivery, bool]] = queue.SimpleQueue()  # (delivery, requeue)
        self._full_until = 0.0
        self.hostname = socket.gethostname()
        self.stop = threading.Event()
        self.images = ImagePuller(cfg, docker, self.stop)

    def run(self, stop: threading.Event) -> None:
        self.stop = self.images.stop = stop
        queues = [CommandChannel(self.broker, q).queue for q in self.cfg.host_queues]
        log.info("spawner consuming %s", ", ".join(q.name for q in queues), extra={"host_id": self.host.host_id})
        try:
            prefetch = max(1, self.cfg.command_prefetch)
            self.broker.consume(queues, self.on_command, stop, prefetch=prefetch, poll=0.2, on_idle=self.flush)
        finally:
            # starts in progress are dropped unacked: the next spawner gets their commands again
            self.spawns.shutdown(wait=False, cancel_futures=True)
            self.pulls.shutdown(wait=False, cancel_futures=True)

    # -- the consumer thread -----------------------------------------------------------------
    def on_command(self, body: dict[str, Any], delivery: Delivery) -> None:
        """Consumer callback: hand the command to a start thread (requeue it while at capacity)."""
        self.flush()
        pause = self._full_until - time.monotonic()
        if pause > 0:
            delivery.requeue()
            self.stop.wait(pause)
            self.flush()
            return
        try:
            cmd = SpawnCommand.from_dict(body)
        except Exception as exc:  # a body of another version, or not an object: never retried
            log.warning("dropped a bad spawn command: %s", exc)
            delivery.ack()
            return
        self.spawns.submit(self._job, cmd, delivery)
        self.flush()

    def flush(self) -> None:
        """Ack (or requeue) the deliveries whose commands were settled (consumer thread only)."""
        while True:
            try:
                delivery, requeue = self._settled.get_nowait()
            except queue.Empty:
                return
            try:
                if delivery.acknowledged:
                    continue
                if requeue:
                    delivery.requeue()
                else:
                    delivery.ack()
            except Exception as exc:  # its connection is gone: the broker has handed it out again
                log.debug("could not settle a command of a lost connection: %s", exc)

    def _settle(self, delivery: Delivery, requeue: bool = False) -> None:
        self._settled.put((delivery, requeue))

    # -- start threads -------------------------------------------------------------------------
    def _job(self, cmd: SpawnCommand, delivery: Delivery) -> None:
        """A start thread: drive the command's worker until it is READY or failed, then settle."""
        key = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        with self._inflight_guard:
            running = self._inflight.get(key)
            if running is None:
                done = self._inflight[key] = threading.Event()
        if running is not None:  # the same command, redelivered after a reconnect: wait for the first
            running.wait(self.cfg.start_timeout)
            self._settle(delivery)
            return
        deadline = time.monotonic() + self.cfg.start_timeout

        def finish(requeue: bool = False) -> None:
            with self._inflight_guard:
                self._inflight.pop(key, None)
            done.set()
            self._settle(delivery, requeue)

        try:
            step = self.drive(cmd, deadline, on_done=finish)
        except Exception as exc:
            step = self._failed(cmd, exc)
        if step is Step.FULL:
            if time.monotonic() >= self._full_until:  # once per pause, not per command
                log.warning(
                    "host at capacity (spawner.max_workers_per_host = %d): commands wait",
                    self.cfg.max_workers_per_host,
                    extra={"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id},
                )
            self._full_until = time.monotonic() + CAPACITY_PAUSE
        if step is not Step.PULLING and not self.stop.is_set():
            finish(requeue=step is Step.FULL)

    def _failed(self, cmd: SpawnCommand, exc: Exception) -> Step:
        """A start that raised: a store outage hands the command back (after a pause, as at
        capacity); any other failure drops it, and health's start-up timeout reaps the worker."""
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        if store_of(exc) is not None:
            log.warning("spawn interrupted by an outage; the command is handed back: %s", exc, extra=extra)
            return Step.FULL
        if isinstance(exc, AbacoError):
            log.warning("spawn failed: %s", exc, extra={**extra, "error": exc.code})
        else:
            log.exception("spawn crashed", extra=extra)
        try:
            workers.release(workers.key_for(cmd.actor_dbid, cmd.worker_id), self.token)
        except Exception as again:
            log.warning("could not release a failed start: %s", again, extra=extra)
        return Step.DROPPED

    def drive(self, cmd: SpawnCommand, deadline: float, on_done: Callable[[], None] | None = None) -> Step:
        """Advance the command's worker, then wait (until ``deadline``) for it to be READY or to
        fail; a start another live spawner drives is waited for, and resumed if that one dies."""
        delay = POLL_FIRST
        while True:
            step = self.advance(cmd, on_done)
            if step is Step.STARTED:
                self._await_ready(cmd, deadline)
            if step is not Step.ELSEWHERE:
                return step
            if time.monotonic() >= deadline or self.stop.wait(delay):
                log.warning(
                    "another spawner is still starting the worker; leaving it to it",
                    extra={"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id},
                )
                return step
            delay = min(POLL_MAX, delay * 2)

    def handle(self, cmd: SpawnCommand) -> bool:
        """One step of a command, without waiting for READY: True when it started (or resumed) a
        worker or began its pull."""
        return self.advance(cmd) in (Step.STARTED, Step.PULLING)

    def advance(self, cmd: SpawnCommand, on_done: Callable[[], None] | None = None) -> Step:
        """Look at the command's worker record and take the next step (never waits).

        REQUESTED -> SPAWNER SETUP -> [PULLING IMAGE] -> CREATING CONTAINER -> UPDATING STORE, then
        READY on the start barrier. A command whose worker is gone, stopping or failed, or whose
        actor is gone, failed or departing, is dropped; a worker stopped while it starts is
        cancelled. A start left behind by a dead spawner is resumed (module docstring).
        """
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        actor = actors.get(cmd.actor_dbid)
        if actor is None or not actors.accepts_work(actor):
            # a worker with a process (a redelivered command) is left to it: it sees its actor go
            workers.delete_if(worker_dbid, pid=None)
            log.info("dropped a command for a missing, failed or departing actor", extra=extra)
            return Step.DROPPED
        for _ in range(3):  # a record that changes under us is looked at again (bounded)
            seen = workers.get(worker_dbid)
            if seen is None or seen.status not in RESUMABLE | SERVING | {S.REQUESTED.value}:
                log.info("dropped a stale command (worker gone or stopping)", extra=extra)
                return Step.DROPPED
            if seen.status in SERVING:
                return Step.SERVING
            if seen.status == S.REQUESTED.value:
                with self._capacity_guard:
                    if workers.count_on_host(self.host.host_id) >= self.cfg.max_workers_per_host:
                        return Step.FULL
                    claimed = workers.set_status(
                        worker_dbid, S.SPAWNER_SETUP, host_id=self.host.host_id, spawner=self.token
                    )
                if claimed:
                    return self._setup(cmd, actor, on_done)
                continue
            step = self._resume(cmd, actor, seen, on_done)
            if step is not None:
                return step
        log.info("dropped a command whose worker record keeps changing", extra=extra)
        return Step.DROPPED

    def _resume(self, cmd: SpawnCommand, actor: Actor, seen: Worker, on_done: Callable[[], None] | None) -> Step | None:
        """A start found part way (a redelivered command): wait for it, adopt its process, or
        start it again. None when the record changed meanwhile (look again)."""
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id, "status": seen.status}
        if seen.host_id != self.host.host_id:
            return Step.ELSEWHERE  # another host's spawner: its processes are not ours to see
        if seen.spawner and seen.spawner != self.token and self.probe.spawner_alive(seen.spawner):
            return Step.ELSEWHERE
        pid = self.probe.worker_pid(cmd.worker_id, seen.pid)
        if pid is not None:  # its process runs (and waits for READY, or is about to say READY)
            if not workers.take_over(
                seen,
                S.UPDATING_STORE,
                pid=pid,
                spawner=self.token,
                host_ip=self.host.host_ip,
                location=self.host.docker_url,
                last_health_check_time=utcnow(),
            ):
                return None
            log.info("resumed an interrupted start: adopted its worker process", extra={**extra, "pid": pid})
            self._open_barrier(cmd)
            return Step.STARTED
        if not workers.take_over(seen, S.SPAWNER_SETUP, pid=None, spawner=self.token):
            return None
        log.info("resumed an interrupted start: starting its worker again", extra=extra)
        return self._setup(cmd, actor, on_done)

    def _setup(self, cmd: SpawnCommand, actor: Actor, on_done: Callable[[], None] | None) -> Step:
        """SPAWNER SETUP: start the worker now, or hand it to the pull pool."""
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        if self.images.must_pull(cmd.image):
            workers.set_status(worker_dbid, S.PULLING_IMAGE)
            self.pulls.submit(self._pull_then_start, cmd, actor, on_done)
            return Step.PULLING
        return Step.STARTED if self._start(cmd, actor) else Step.DROPPED

    def _await_ready(self, cmd: SpawnCommand, deadline: float) -> None:
        """Wait (at most ``worker_ready_timeout``, and never past ``deadline``) until the worker
        is READY, stopping, gone, or its process has exited (health replaces it then)."""
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        end = min(deadline, time.monotonic() + self.cfg.worker_ready_timeout)
        delay = POLL_FIRST
        while not self.stop.is_set():
            record = workers.get(worker_dbid)
            if record is None or record.status != S.UPDATING_STORE.value:
                return  # READY (or later), or stopped, or deleted
            # the pid alone: a worker forked a moment ago may not have taken its name yet
            if record.pid and not self.probe.pid_alive(record.pid):
                log.warning("worker exited before it was READY; health replaces it", extra=extra)
                workers.release(worker_dbid, self.token)
                return
            if time.monotonic() >= end:
                log.warning("worker not READY in time; health's start-up timeout decides", extra=extra)
                workers.release(worker_dbid, self.token)
                return
            self.stop.wait(delay)
            delay = min(POLL_MAX, delay * 2)

    def _start(self, cmd: SpawnCommand, actor: Actor) -> bool:
        """Launch the worker process and open its start barrier (the image is present)."""
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        if not workers.set_status(worker_dbid, WorkerStatus.CREATING_CONTAINER):
            # stopped during setup (reference 3.2: its record is deleted, nothing was started)
            workers.delete_if(worker_dbid, pid=None)
            log.info("worker stopped during setup; not starting it", extra=extra)
            return False
        env = self.credentials.issue(cmd) if actor.token else {}
        try:
            pid = self.launch(cmd.worker_id, cmd.actor_dbid, env)
        except BaseException:
            if env:
                self.credentials.revoke(cmd)
            raise
        recorded = workers.set_status(
            worker_dbid,
            WorkerStatus.UPDATING_STORE,
            pid=pid,
            host_ip=self.host.host_ip,
            location=self.host.docker_url,
            last_health_check_time=utcnow(),
        )
        if not recorded:  # stopped (or its actor deleted) while starting
            log.info("worker record changed while starting; cancelling it", extra=extra)
            SpawnerWorkerChannel(self.broker, cmd.worker_id).send_cancel()
            return False
        self._open_barrier(cmd)
        log.info("worker started", extra={**extra, "pid": pid})
        return True

    def _open_barrier(self, cmd: SpawnCommand) -> None:
        """READY to the worker (a second READY, after a resumed start, is never read), then
        replace the actor's other workers if the command says so."""
        SpawnerWorkerChannel(self.broker, cmd.worker_id).send_ready()
        if cmd.stop_existing:
            stop_workers(cmd.actor_dbid, self.broker, WorkerCommandName.STOP_NO_DELETE, exclude=cmd.worker_id)

    def _pull_then_start(self, cmd: SpawnCommand, actor: Actor, on_done: Callable[[], None] | None = None) -> None:
        """Pool thread: pull the image (bounded tries), then start the worker (and wait for its
        READY) or fail the actor; then settle the command."""
        try:
            self._pull_and_start(cmd, actor)
        finally:
            if on_done is not None and not self.stop.is_set():
                on_done()

    def _pull_and_start(self, cmd: SpawnCommand, actor: Actor) -> None:
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        try:
            self.images.pull(cmd.image)
        except DockerError as exc:
            reason = f"Could not get image {cmd.image} on host {self.host.host_id} ({self.hostname}): {exc}"
            if actors.fail(actor.db_id, reason):
                EventPublisher(self.broker).actor_error(actor, reason)  # ACTOR_ERROR (actors with a link or webhook)
            workers.delete(worker_dbid)
            executions.end_pending(actor.db_id, reason)
            log.error("image unavailable: %s", exc, extra={"actor_id": actor.db_id})
            return
        except Exception:
            log.exception("pull crashed", extra={"actor_id": actor.db_id})
            workers.delete(worker_dbid)
            return
        try:
            if self._start(cmd, actor):
                self._await_ready(cmd, time.monotonic() + self.cfg.worker_ready_timeout)
        except Exception:
            log.exception("spawn after pull crashed", extra={"actor_id": actor.db_id})
