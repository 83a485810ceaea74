"""The spawner: takes commands from its host queues and starts worker processes.

Ack policy: a command is acked after it has been handled (or found stale), so a spawner that dies
mid-command gets it again; the worker record's status makes handling it twice harmless.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from abaco_shared import actors, executions, workers
from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import CommandChannel, SpawnerWorkerChannel
from abaco_shared.config import HostConfig, SpawnerConfig
from abaco_shared.containers import DockerApi
from abaco_shared.enums import PullPolicy, WorkerCommandName, WorkerStatus
from abaco_shared.errors import AbacoError, DockerError
from abaco_shared.messages import SpawnCommand
from abaco_shared.models import Actor, utcnow
from abaco_shared.workflows.scaling import stop_workers

__all__ = ["Spawner", "Launcher"]

log = logging.getLogger(__name__)

# starts a worker process for (worker_id, actor_dbid) and returns its pid
Launcher = Callable[[str, str], int]
CAPACITY_PAUSE = 5.0


class Spawner:
    """Starts workers on this host for the command queues it serves."""

    def __init__(
        self, cfg: SpawnerConfig, host: HostConfig, broker: Broker, docker: DockerApi, launch: Launcher
    ) -> None:
        self.cfg = cfg
        self.host = host
        self.broker = broker
        self.docker = docker
        self.launch = launch
        self.hostname = socket.gethostname()
        self.stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        queues = [CommandChannel(self.broker, q).queue for q in self.cfg.host_queues]
        log.info("spawner consuming %s", ", ".join(q.name for q in queues), extra={"host_id": self.host.host_id})
        self.broker.consume(queues, self.on_command, stop, prefetch=1)

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
        """Start the worker a command asks for; True when it was started.

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
        if not self._ensure_image(actor, worker_dbid, cmd.image):
            return False
        if not workers.set_status(worker_dbid, WorkerStatus.CREATING_CONTAINER):
            # stopped during setup (reference 3.2: its record is deleted, nothing was started)
            workers.delete_if(worker_dbid, pid=None)
            log.info("worker stopped during setup; not starting it", extra=extra)
            return False
        pid = self.launch(cmd.worker_id, cmd.actor_dbid)
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

    def _ensure_image(self, actor: Actor, worker_dbid: str, image: str) -> bool:
        """Make the image present by the pull policy; on failure the actor goes to ERROR with a
        message naming this host, its worker record is deleted and its waiting executions end."""
        try:
            policy = PullPolicy(self.cfg.pull_policy)
            if policy is PullPolicy.ALWAYS or not self.docker.image_present(image):
                if policy is PullPolicy.NEVER:
                    raise DockerError(f"image {image} is not present and the pull policy is 'never'")
                workers.set_status(worker_dbid, WorkerStatus.PULLING_IMAGE)
                self.docker.pull(image)
            return True
        except DockerError as exc:
            reason = f"Could not get image {image} on host {self.host.host_id} ({self.hostname}): {exc}"
            actors.fail(actor.db_id, reason)
            workers.delete(worker_dbid)
            executions.end_pending(actor.db_id, reason)
            log.error("image unavailable: %s", exc, extra={"actor_id": actor.db_id})
            return False
