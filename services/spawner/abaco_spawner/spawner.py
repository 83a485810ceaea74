"""The spawner: takes commands from its host queues and starts worker processes.

Ack policy: a command is acked after it has been handled (or found stale), so a spawner that dies
mid-command gets it again; the worker record's status makes handling it twice harmless.
"""

from __future__ import annotations

import logging
import socket
import threading

from abaco_shared.broker import Message
from abaco_shared.channels import CommandChannel, SpawnerWorkerChannel
from abaco_shared.config import Config
from abaco_shared.containers import DockerApi
from abaco_shared.context import Context
from abaco_shared.enums import ActorStatus, WorkerStatus
from abaco_shared.errors import AbacoError, DockerError
from abaco_shared.lifecycle import cancel_pending_executions, set_worker_status, stop_workers
from abaco_shared.messages import SpawnCommand
from abaco_shared.models import Actor, Worker, utcnow

from .launcher import launch_worker

__all__ = ["Spawner"]

log = logging.getLogger(__name__)

BUSY_STATUSES = [s.value for s in WorkerStatus.pending()]


class Spawner:
    def __init__(self, ctx: Context, docker: DockerApi) -> None:
        self.ctx = ctx
        self.cfg: Config = ctx.cfg
        self.docker = docker
        self.host_id = ctx.cfg.spawner.host_id
        self.host_ip = "127.0.0.1"
        self.hostname = socket.gethostname()
        self.stop = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self.stop = stop
        queues = [CommandChannel(self.ctx.broker, q).queue for q in self.cfg.spawner.host_queues]
        log.info("spawner consuming %s", ", ".join(q.name for q in queues), extra={"host_id": self.host_id})
        self.ctx.broker.consume(queues, self._on_command, stop, prefetch=1)

    def _on_command(self, body: dict, message: Message) -> None:
        if self._at_capacity():
            message.requeue()
            self.stop.wait(5.0)
            return
        try:
            self.handle(SpawnCommand.from_dict(body))
        except AbacoError as exc:
            log.warning("spawn failed: %s", exc, extra={"actor_id": body.get("actor_id"), "error": exc.code})
        except Exception:
            log.exception("spawn crashed", extra={"actor_id": body.get("actor_id")})
        finally:
            if not message.acknowledged:
                message.ack()

    def _at_capacity(self) -> bool:
        count = Worker.objects(host_id=self.host_id, status__in=BUSY_STATUSES).count()
        return count >= self.cfg.spawner.max_workers_per_host

    def handle(self, cmd: SpawnCommand) -> None:
        worker_dbid = f"{cmd.actor_id}_{cmd.worker_id}"
        extra = {"actor_id": cmd.actor_id, "worker_id": cmd.worker_id}
        actor = Actor.objects(db_id=cmd.actor_id).first()
        if actor is None or actor.status in (ActorStatus.ERROR.value, ActorStatus.SHUTTING_DOWN.value):
            Worker.objects(db_id=worker_dbid).delete()
            log.info("dropped a command for a missing, failed or departing actor", extra=extra)
            return
        if not set_worker_status(worker_dbid, WorkerStatus.SPAWNER_SETUP, host_id=self.host_id):
            log.info("dropped a stale command (worker no longer REQUESTED)", extra=extra)
            return
        if not self._ensure_image(actor, worker_dbid, cmd.image):
            return
        if not set_worker_status(worker_dbid, WorkerStatus.CREATING_CONTAINER):
            # stopped during setup (reference 3.2: its record is deleted, nothing was started)
            Worker.objects(db_id=worker_dbid, pid=None).delete()
            log.info("worker stopped during setup; not starting it", extra=extra)
            return
        log_path = self.cfg.data_path / "logs" / "workers.log"
        pid = launch_worker(cmd.worker_id, cmd.actor_id, log_path)
        recorded = set_worker_status(
            worker_dbid,
            WorkerStatus.UPDATING_STORE,
            pid=pid,
            host_ip=self.host_ip,
            location=self.cfg.worker.docker_url,
            last_health_check_time=utcnow(),
        )
        if not recorded:  # stopped (or its actor deleted) while starting
            log.info("worker record changed while starting; cancelling it", extra=extra)
            SpawnerWorkerChannel(self.ctx.broker, cmd.worker_id).send_cancel()
            return
        SpawnerWorkerChannel(self.ctx.broker, cmd.worker_id).send_ready()
        log.info("worker started", extra={**extra, "pid": pid})
        if cmd.stop_existing:
            stop_workers(cmd.actor_id, self.ctx.broker, command="stop-no-delete", exclude=cmd.worker_id)

    def _ensure_image(self, actor: Actor, worker_dbid: str, image: str) -> bool:
        try:
            policy = self.cfg.spawner.pull_policy
            if policy == "always" or not self.docker.image_present(image):
                if policy == "never":
                    raise DockerError(f"image {image} is not present and the pull policy is 'never'")
                set_worker_status(worker_dbid, WorkerStatus.PULLING_IMAGE)
                self.docker.pull(image)
            return True
        except DockerError as exc:
            reason = f"Could not get image {image} on host {self.host_id} ({self.hostname}): {exc}"
            Actor.objects(db_id=actor.db_id).update_one(set__status=ActorStatus.ERROR.value, set__status_message=reason)
            Worker.objects(db_id=worker_dbid).delete()
            cancel_pending_executions(actor.db_id, reason)
            log.error("image unavailable: %s", exc, extra={"actor_id": actor.db_id})
            return False
