"""The worker process: consumes one actor's mailbox and runs a fresh container per message.

Ack policy: a mailbox message is acked only after its execution is recorded in a terminal state,
so a crash anywhere before that redelivers it (at-least-once); an execution already terminal when
its message arrives again is acked without running twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import redis

from abaco_shared.broker import Message
from abaco_shared.channels import MailboxChannel, SpawnerWorkerChannel, WorkerChannel
from abaco_shared.containers import DockerApi
from abaco_shared.context import Context
from abaco_shared.enums import ActorStatus, WorkerStatus
from abaco_shared.errors import AbacoError, ChannelTimeout, ValidationError
from abaco_shared.lifecycle import set_worker_status
from abaco_shared.messages import MailboxMessage, WorkerCommand
from abaco_shared.models import Actor, Worker, utcnow

from .cgroups import cgroup_layout
from .execution import ExecutionRunner

__all__ = ["ActorWorker", "WorkerState"]

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 10.0
MAX_CONSECUTIVE_FAILURES = 5


@dataclass
class WorkerState:
    """What the control thread and the main loop share (instead of module globals)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    execution_id: str = ""
    container_id: str = ""
    stop_command: str = ""  # "stop" or "stop-no-delete" once asked
    force_quit: bool = False


class ActorWorker:
    def __init__(self, ctx: Context, docker: DockerApi, worker_id: str, actor_dbid: str) -> None:
        self.ctx = ctx
        self.docker = docker
        self.worker_id = worker_id
        self.actor_dbid = actor_dbid
        self.db_id = f"{actor_dbid}_{worker_id}"
        self.state = WorkerState()
        self.stop = threading.Event()
        driver, version = docker.cgroup_info()
        self.cgroup_parent, self.meter = cgroup_layout(
            driver, version, ctx.cfg.worker.cgroup_parent, worker_id, ctx.cfg.worker.cgroup_root
        )
        self.runner = ExecutionRunner(ctx, docker, self.meter, self.cgroup_parent, worker_id, self.state)
        self._last_beat = 0.0
        self._failures = 0
        self.log_extra = {"worker_id": worker_id, "actor_id": actor_dbid}

    # -- lifecycle -------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> int:
        """Wait for the spawner's READY, then serve the mailbox until stopped."""
        self.stop = stop
        try:
            barrier = SpawnerWorkerChannel(self.ctx.broker, self.worker_id).wait_ready(
                self.ctx.cfg.spawner.worker_ready_timeout
            )
        except ChannelTimeout:
            log.error("no READY from the spawner; exiting", extra=self.log_extra)
            self._cleanup()
            return 1
        if barrier.status != "READY":
            self.state.stop_command = "cancelled"
            self._cleanup()
            return 0
        worker = Worker.objects(db_id=self.db_id).first()
        actor = Actor.objects(db_id=self.actor_dbid).first()
        if worker is None or actor is None:
            log.warning("worker record or actor vanished before start", extra=self.log_extra)
            return 0
        self.revision = worker.revision
        if not set_worker_status(self.db_id, WorkerStatus.READY, last_health_check_time=utcnow()):
            log.warning("worker could not become READY (status changed)", extra=self.log_extra)
            self._cleanup()
            return 0
        Actor.objects(db_id=self.actor_dbid, revision=self.revision, status=ActorStatus.SUBMITTED.value).update_one(
            set__status=ActorStatus.READY.value, set__status_message=""
        )
        log.info("worker ready", extra=self.log_extra)
        control = threading.Thread(target=self._control_loop, name="control", daemon=True)
        control.start()
        try:
            self.ctx.broker.consume(
                [MailboxChannel(self.ctx.broker, self.actor_dbid).queue],
                self._on_message,
                self.stop,
                prefetch=1,
                on_idle=self._heartbeat,
            )
        finally:
            self.stop.set()
            self._cleanup()
        return 0

    def _cleanup(self) -> None:
        self.runner.remove_finished()
        Worker.objects(db_id=self.db_id).update_one(set__status=WorkerStatus.SHUTTING_DOWN.value)
        Worker.objects(db_id=self.db_id).delete()
        try:
            self.ctx.redis.delete(self._heartbeat_key)
        except redis.RedisError as exc:
            log.warning("could not delete the heartbeat: %s", exc, extra=self.log_extra)
        try:
            WorkerChannel(self.ctx.broker, self.worker_id).delete()
        except AbacoError as exc:
            log.warning("could not delete the worker channel: %s", exc, extra=self.log_extra)
        self.meter.remove()
        log.info("worker stopped", extra={**self.log_extra, "reason": self.state.stop_command or "signal"})

    @property
    def _heartbeat_key(self) -> str:
        return f"{self.ctx.cfg.redis.key_prefix}worker:{self.worker_id}:heartbeat"

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_EVERY:
            self._last_beat = now
            try:
                self.ctx.redis.set(self._heartbeat_key, str(time.time()), ex=int(HEARTBEAT_EVERY * 12))
            except redis.RedisError as exc:  # a missed beat is not worth dying for
                log.warning("could not write the heartbeat: %s", exc, extra=self.log_extra)

    # -- the worker channel ----------------------------------------------------------------------
    def _control_loop(self) -> None:
        queue = WorkerChannel(self.ctx.broker, self.worker_id).queue
        try:
            self.ctx.broker.consume([queue], self._on_control, self.stop, prefetch=10)
        except Exception:
            log.exception("worker channel consumer failed; stopping", extra=self.log_extra)
            self.stop.set()

    def _on_control(self, body: dict, message: Message) -> None:
        message.ack()
        try:
            cmd = WorkerCommand.from_dict(body)
        except ValidationError as exc:
            log.warning("ignored a bad worker command: %s", exc, extra=self.log_extra)
            return
        if cmd.command == "status":
            Worker.objects(db_id=self.db_id).update_one(set__last_health_check_time=utcnow())
            return
        if cmd.command == "force_quit":
            self.runner.force_quit(cmd.execution_id)
            return
        with self.state.lock:
            self.state.stop_command = cmd.command
        Worker.objects(db_id=self.db_id).update_one(set__status=WorkerStatus.SHUTTING_DOWN.value)
        if cmd.command == "stop":  # the actor is going away: do not finish its execution
            self.runner.force_quit("")
        log.info("worker asked to %s", cmd.command, extra=self.log_extra)
        self.stop.set()

    # -- the mailbox -----------------------------------------------------------------------------
    def _on_message(self, body: dict, message: Message) -> None:
        if self.stop.is_set() or self.state.stop_command:
            message.requeue()
            return
        actor = Actor.objects(db_id=self.actor_dbid).first()
        if actor is None or actor.status == ActorStatus.SHUTTING_DOWN.value:
            message.requeue()
            self.stop.set()
            return
        if actor.revision != self.revision:
            log.info("stale worker (actor revision %s): handing back", actor.revision, extra=self.log_extra)
            message.requeue()
            self.stop.set()
            return
        try:
            msg = MailboxMessage.from_dict(body)
        except ValidationError as exc:
            log.error("dropped an unreadable mailbox message: %s", exc, extra=self.log_extra)
            message.ack()
            return
        try:
            done = self.runner.handle(actor, msg)
            self._failures = 0
        except Exception:
            self._failures += 1
            log.exception("execution %s failed unexpectedly", msg.execution_id, extra=self.log_extra)
            message.requeue()
            if self._failures >= MAX_CONSECUTIVE_FAILURES:
                log.error("too many consecutive failures; worker exits", extra=self.log_extra)
                self.stop.set()
            else:
                self.stop.wait(min(2**self._failures, 10))
            return
        if done:
            message.ack()
            self.runner.remove_finished()
        else:
            message.requeue()
            self.stop.wait(1.0)
        self._heartbeat()
