"""The spawner: takes commands from its host queues and starts worker processes.

Ack policy: a command is acked after it has been handled (or found stale), so a spawner that dies
mid-command gets it again; the worker record's status makes handling it twice harmless.

Image pulls never run on the consuming thread: a worker whose image must be pulled is handed to a
small pool (PULLING IMAGE) and its command acked, so a slow or silent registry delays only the
actors that use it. A pull that fails (bounded tries, each ending after ``pull_timeout`` seconds
without progress) puts its actor in ERROR with a message naming this host; a spawner that dies
mid-pull leaves the worker in PULLING IMAGE, which health reaps after its start-up timeout.

A worker of an actor with ``token`` on gets a credential from clientg (request/reply on the
clients channel) just before it is launched, in its process environment; the actor's containers
never see it. Without an answer in time the worker still starts, without one (its executions get
an empty token, and say so in the worker log); actors without ``token`` never wait for clientg.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from abaco_shared import actors, executions, registries, workers
from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import ClientsChannel, CommandChannel, SpawnerWorkerChannel
from abaco_shared.config import HostConfig, SpawnerConfig
from abaco_shared.containers import DockerApi
from abaco_shared.credentials import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from abaco_shared.enums import PullPolicy, WorkerCommandName, WorkerStatus
from abaco_shared.errors import AbacoError, DockerError
from abaco_shared.events import EventPublisher
from abaco_shared.messages import ClientRequest, SpawnCommand
from abaco_shared.models import Actor, utcnow
from abaco_shared.workflows.scaling import stop_workers

__all__ = ["Spawner", "Launcher"]

log = logging.getLogger(__name__)

# starts a worker process for (worker_id, actor_dbid) with extra environment; returns its pid
Launcher = Callable[[str, str, Mapping[str, str]], int]
CAPACITY_PAUSE = 5.0


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
    ) -> None:
        self.cfg = cfg
        self.host = host
        self.broker = broker
        self.docker = docker
        self.launch = launch
        self.clientg_timeout = clientg_timeout
        self.clients = clients or ClientsChannel(broker)
        self.pulls = pulls or ThreadPoolExecutor(max(1, cfg.max_parallel_pulls), thread_name_prefix="pull")
        self._image_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.hostname = socket.gethostname()
        self.stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        queues = [CommandChannel(self.broker, q).queue for q in self.cfg.host_queues]
        log.info("spawner consuming %s", ", ".join(q.name for q in queues), extra={"host_id": self.host.host_id})
        try:
            self.broker.consume(queues, self.on_command, stop, prefetch=1)
        finally:
            self.pulls.shutdown(wait=False, cancel_futures=True)

    def on_command(self, body: dict[str, Any], delivery: Delivery) -> None:
        """Consumer callback: handle one command, then ack it (requeue it while at capacity)."""
        if workers.count_on_host(self.host.host_id) >= self.cfg.max_workers_per_host:
            delivery.requeue()
            self.stop.wait(CAPACITY_PAUSE)
            return
        actor = body.get("actor_dbid", body.get("actor_id")) if isinstance(body, dict) else None
        try:
            self.handle(SpawnCommand.from_dict(body))
        except AbacoError as exc:
            log.warning("spawn failed: %s", exc, extra={"actor_id": actor, "error": exc.code})
        except Exception:
            log.exception("spawn crashed", extra={"actor_id": actor})
        finally:
            if not delivery.acknowledged:
                delivery.ack()

    def handle(self, cmd: SpawnCommand) -> bool:
        """Start the worker a command asks for; True when it was started (or its pull begun).

        REQUESTED -> SPAWNER SETUP -> [PULLING IMAGE] -> CREATING CONTAINER -> UPDATING STORE, then
        READY on the start barrier. A command whose worker is no longer REQUESTED, or whose actor
        is gone, failed or departing, is dropped; a worker stopped while it starts is cancelled.
        """
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        actor = actors.get(cmd.actor_dbid)
        if actor is None or not actors.accepts_work(actor):
            workers.delete(worker_dbid)
            log.info("dropped a command for a missing, failed or departing actor", extra=extra)
            return False
        if not workers.set_status(worker_dbid, WorkerStatus.SPAWNER_SETUP, host_id=self.host.host_id):
            log.info("dropped a stale command (worker no longer REQUESTED)", extra=extra)
            return False
        if self._must_pull(cmd.image):
            workers.set_status(worker_dbid, WorkerStatus.PULLING_IMAGE)
            self.pulls.submit(self._pull_then_start, cmd, actor)
            return True
        return self._start(cmd, actor)

    def _must_pull(self, image: str) -> bool:
        policy = PullPolicy(self.cfg.pull_policy)
        if policy is PullPolicy.ALWAYS:
            return True
        try:
            return not self.docker.image_present(image)
        except DockerError as exc:
            log.warning("cannot inspect image %s, pulling it: %s", image, exc)
            return True

    def _start(self, cmd: SpawnCommand, actor: Actor) -> bool:
        """Launch the worker process and open its start barrier (the image is present)."""
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        if not workers.set_status(worker_dbid, WorkerStatus.CREATING_CONTAINER):
            # stopped during setup (reference 3.2: its record is deleted, nothing was started)
            workers.delete_if(worker_dbid, pid=None)
            log.info("worker stopped during setup; not starting it", extra=extra)
            return False
        env = self._credential_env(cmd) if actor.token else {}
        try:
            pid = self.launch(cmd.worker_id, cmd.actor_dbid, env)
        except BaseException:
            if env:
                self._revoke(cmd)
            raise
        recorded = workers.set_status(
            worker_dbid,
            WorkerStatus.UPDATING_STORE,
            pid=pid,
            host_ip=self.host.host_ip,
            location=self.host.docker_url,
            last_health_check_time=utcnow(),
        )
        barrier = SpawnerWorkerChannel(self.broker, cmd.worker_id)
        if not recorded:  # stopped (or its actor deleted) while starting
            log.info("worker record changed while starting; cancelling it", extra=extra)
            barrier.send_cancel()
            return False
        barrier.send_ready()
        log.info("worker started", extra={**extra, "pid": pid})
        if cmd.stop_existing:
            stop_workers(cmd.actor_dbid, self.broker, WorkerCommandName.STOP_NO_DELETE, exclude=cmd.worker_id)
        return True

    def _credential_env(self, cmd: SpawnCommand) -> dict[str, str]:
        """Ask clientg for the worker's credential; {} (and a warning) when none comes."""
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        req = ClientRequest(command="new", tenant=cmd.tenant, actor_dbid=cmd.actor_dbid, worker_id=cmd.worker_id)
        try:
            reply = self.clients.request(req, self.clientg_timeout)
        except AbacoError as exc:
            log.warning("no credential from clientg; the worker starts without one: %s", exc, extra=extra)
            self._revoke(cmd)  # clientg may still record it later: revoke it behind that request
            return {}
        if reply.status != "ok" or not reply.client_id or not reply.secret:
            log.warning("clientg refused a credential: %s", reply.message, extra=extra)
            return {}
        return {CLIENT_ID_ENV: reply.client_id, CLIENT_SECRET_ENV: reply.secret}

    def _revoke(self, cmd: SpawnCommand) -> None:
        req = ClientRequest(command="delete", tenant=cmd.tenant, actor_dbid=cmd.actor_dbid, worker_id=cmd.worker_id)
        try:
            self.clients.tell(req)
        except AbacoError as exc:
            log.warning("could not ask clientg to revoke a credential: %s", exc, extra={"worker_id": cmd.worker_id})

    def _pull_then_start(self, cmd: SpawnCommand, actor: Actor) -> None:
        """Pool thread: pull the image (bounded tries), then start the worker or fail the actor."""
        worker_dbid = workers.key_for(cmd.actor_dbid, cmd.worker_id)
        try:
            self._pull(cmd.image)
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
            self._start(cmd, actor)
        except Exception:
            log.exception("spawn after pull crashed", extra={"actor_id": actor.db_id})

    def _pull(self, image: str) -> None:
        """One pull of ``image`` at a time on this host (others wait for it), tried
        ``pull_attempts`` times with a pause between tries."""
        if PullPolicy(self.cfg.pull_policy) is PullPolicy.NEVER:
            raise DockerError(f"image {image} is not present and the pull policy is 'never'")
        with self._locks_guard:
            lock = self._image_locks.setdefault(image, threading.Lock())
        waited = not lock.acquire(blocking=False)
        if waited:
            lock.acquire()
        try:
            if waited and self.docker.image_present(image):
                return  # pulled for another worker's request meanwhile
            attempts = max(1, self.cfg.pull_attempts)
            for attempt in range(1, attempts + 1):
                try:
                    self.docker.pull(image, registries.credentials_for(image, self.cfg.registry_auth_file))
                    return
                except DockerError as exc:
                    if attempt == attempts:
                        raise
                    log.warning("pull of %s failed (try %s of %s): %s", image, attempt, attempts, exc)
                    self.stop.wait(self.cfg.pull_backoff * attempt)
        finally:
            lock.release()
