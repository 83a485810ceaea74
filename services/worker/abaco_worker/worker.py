"""The worker process: consumes one actor's mailbox and runs a fresh container per message.

Ack policy: a mailbox message is acked only after its execution is recorded in a terminal state,
so a crash anywhere before that redelivers it (at-least-once); an execution already terminal when
its message arrives again is acked without running twice. What is requeued and when is the
RetryPolicy's decision.

Outages are waited out: the consumers reconnect for as long as it takes, and a running execution
is held meanwhile (its result is recorded in MongoDB; the ack of its delivery, whose channel died,
is impossible, so the message comes back, finds its execution terminal and is acked unrun). A
worker that exits although nobody asked it to (no READY, a failure at start, too many failures in
a row) leaves its record behind: health reaps it like a dead worker and requests a replacement.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis

from abaco_shared import actors, workers
from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import MailboxChannel, SpawnerWorkerChannel, WorkerChannel
from abaco_shared.enums import ActorStatus, Barrier, WorkerCommandName, WorkerStatus
from abaco_shared.errors import AbacoError, ChannelTimeout, ValidationError
from abaco_shared.messages import MailboxMessage, WorkerCommand
from abaco_shared.models import utcnow
from abaco_shared.retry import Disposition, RetryPolicy

from .execution import ExecutionRunner

__all__ = ["ActorWorker", "Heartbeat"]

log = logging.getLogger(__name__)

IDLE_POLL = 1.0  # s without a message before a heartbeat (a noted READY is written sooner)


class Heartbeat:
    """A worker's liveness key in Redis, written at most every ``every`` seconds."""

    def __init__(self, client: redis.Redis, prefix: str, worker_id: str, every: float = 10.0) -> None:
        self.client = client
        self.key = workers.heartbeat_key(prefix, worker_id)
        self.every = every
        self._last = float("-inf")

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        try:
            self.client.set(self.key, str(time.time()), ex=int(self.every * 12))
        except redis.RedisError as exc:  # a missed beat is not worth dying for
            log.warning("could not write the heartbeat: %s", exc)

    def clear(self) -> None:
        try:
            self.client.delete(self.key)
        except redis.RedisError as exc:
            log.warning("could not delete the heartbeat: %s", exc)


class ActorWorker:
    """One worker of one actor: start barrier, mailbox consumer, control channel, clean exit."""

    def __init__(
        self,
        worker_id: str,
        actor_dbid: str,
        broker: Broker,
        runner: ExecutionRunner,
        policy: RetryPolicy,
        heartbeat: Heartbeat,
        ready_timeout: float,
    ) -> None:
        self.worker_id = worker_id
        self.actor_dbid = actor_dbid
        self.db_id = workers.key_for(actor_dbid, worker_id)
        self.broker = broker
        self.runner = runner
        self.state = runner.state
        self.policy = policy
        self.heartbeat = heartbeat
        self.ready_timeout = ready_timeout
        self.revision = 0
        self.stop = threading.Event()
        self.failure = ""  # why the worker exits although nobody asked it to ("": it was asked)
        self.log_extra = {"worker_id": worker_id, "actor_id": actor_dbid}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> bool:
        """Wait for the spawner's READY and become READY; False when this worker must not serve."""
        try:
            barrier = SpawnerWorkerChannel(self.broker, self.worker_id).wait_ready(self.ready_timeout)
        except ChannelTimeout:
            log.error("no READY from the spawner; exiting", extra=self.log_extra)
            self.failure = "no READY from the spawner"
            return False
        if barrier.status != Barrier.READY:
            self.state.request_stop("cancelled")
            return False
        worker, actor = workers.get(self.db_id), actors.get(self.actor_dbid)
        if worker is None or actor is None:
            log.warning("worker record or actor vanished before start", extra=self.log_extra)
            return False
        self.revision = worker.revision
        if not workers.set_status(self.db_id, WorkerStatus.READY, last_health_check_time=utcnow()):
            log.warning("worker could not become READY (status changed)", extra=self.log_extra)
            return False
        if actors.mark_ready(self.actor_dbid, self.revision) and self.runner.events is not None:
            self.runner.events.actor_ready(actor)  # ACTOR_READY (actors with a link or webhook)
        log.info("worker ready", extra=self.log_extra)
        return True

    def run(self, stop: threading.Event) -> int:
        """Serve the mailbox until stopped; always clean up the record, channel and cgroup."""
        self.stop = stop
        try:
            if not self.start():
                return 0 if self.state.stopping() == "cancelled" else 1
            mailbox = MailboxChannel(self.broker, self.actor_dbid)
            if not self._open_mailbox(mailbox):
                return 0
            threading.Thread(target=self._control_loop, name="control", daemon=True).start()
            # READY after an execution is written once no message follows (availability.py)
            self.runner.availability.lazy = True
            # never declared again: a mailbox deleted under the worker (its actor's DELETE) ends it
            if not self.broker.consume(
                [mailbox.queue],
                self.on_message,
                self.stop,
                prefetch=1,
                poll=lambda: self.runner.availability.wait(IDLE_POLL),
                on_idle=self.on_idle,
                declare=False,
            ):
                log.info("the mailbox was deleted; exiting", extra=self.log_extra)
            return 0
        except Exception as exc:
            self.failure = self.failure or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.stop.set()
            self.cleanup()

    def _open_mailbox(self, mailbox: MailboxChannel) -> bool:
        """Declare the mailbox, then make sure the actor is not being deleted: a DELETE sets
        SHUTTING_DOWN before it deletes the mailbox, so either the DELETE removes the queue
        declared here, or this check sees SHUTTING_DOWN (or no actor) and removes it."""
        mailbox.declare()
        actor = actors.get_current(self.actor_dbid)
        if actor is None or actor.status == ActorStatus.SHUTTING_DOWN:
            log.info("the actor is being deleted; removing its mailbox and exiting", extra=self.log_extra)
            mailbox.delete()
            return False
        return True

    def failed(self) -> str:
        """Why this worker exits although nobody asked it to, or "" (a stop command, a cancel,
        its actor leaving or a signal): a failed worker's actor gets a replacement from health."""
        if self.state.stopping():
            return ""
        return self.failure or ("too many failures in a row" if self.policy.gave_up else "")

    def cleanup(self) -> None:
        """Remove what the worker leaves behind, and have its clientg credential revoked. The
        record of a worker that :meth:`failed` stays: health reaps it and requests another."""
        self.runner.remove_finished()
        failure = self.failed()
        if failure:
            log.warning("worker failed; health will replace it: %s", failure, extra=self.log_extra)
        else:
            workers.set_status(self.db_id, WorkerStatus.SHUTTING_DOWN)
            workers.delete(self.db_id)
        self.heartbeat.clear()
        try:
            WorkerChannel(self.broker, self.worker_id).delete()
        except AbacoError as exc:
            log.warning("could not delete the worker channel: %s", exc, extra=self.log_extra)
        self.runner.meter.remove()
        if self.runner.results is not None:
            self.runner.results.shutdown()  # its thread and socket directory
        if self.runner.tokens is not None:
            self.runner.tokens.revoke()
        log.info("worker stopped", extra={**self.log_extra, "reason": self.state.stopping() or "signal"})

    # -- the worker channel ----------------------------------------------------------------------
    def _control_loop(self) -> None:
        queue = WorkerChannel(self.broker, self.worker_id).queue
        try:
            self.broker.consume([queue], self.on_control, self.stop, prefetch=10)
        except Exception as exc:
            log.exception("worker channel consumer failed; stopping", extra=self.log_extra)
            self.failure = self.failure or f"the worker channel consumer failed: {exc}"
            self.stop.set()

    def on_control(self, body: dict[str, Any], delivery: Delivery) -> None:
        delivery.ack()
        try:
            self.control(WorkerCommand.from_dict(body))
        except ValidationError as exc:
            log.warning("ignored a bad worker command: %s", exc, extra=self.log_extra)

    def control(self, cmd: WorkerCommand) -> None:
        """``status`` answers a health ping; ``force_quit`` stops the running container; ``stop``
        force-quits and exits; ``stop-no-delete`` lets the running execution finish, then exits."""
        command = WorkerCommandName(cmd.command)
        if command is WorkerCommandName.STATUS:
            workers.touch(self.db_id)
            return
        if command is WorkerCommandName.FORCE_QUIT:
            self.runner.force_quit(cmd.execution_id)
            return
        self.state.request_stop(command.value)
        workers.set_status(self.db_id, WorkerStatus.SHUTTING_DOWN)
        if command is WorkerCommandName.STOP:  # the actor is going away: do not finish its execution
            self.runner.force_quit("")
        log.info("worker asked to %s", command.value, extra=self.log_extra)
        self.stop.set()

    # -- the mailbox -----------------------------------------------------------------------------
    def on_idle(self) -> None:
        """No message for a while: the READY of the last execution, and a heartbeat."""
        self.runner.availability.flush()
        self.heartbeat.beat()

    def on_message(self, body: dict[str, Any], delivery: Delivery) -> None:
        """Consumer callback for one mailbox delivery."""
        if self.stop.is_set() or self.state.stopping():
            delivery.requeue()
            return
        actor = actors.get_current_shared(self.actor_dbid)  # read only: runs never change it
        if actor is None or actor.status == ActorStatus.SHUTTING_DOWN or actor.revision != self.revision:
            reason = "stale" if actor is not None and actor.revision != self.revision else "departing"
            log.info("handing the message back and exiting: actor %s", reason, extra=self.log_extra)
            delivery.requeue()
            self.stop.set()
            return
        try:
            msg = MailboxMessage.from_dict(body)
        except ValidationError as exc:
            log.error("dropped an unreadable mailbox message: %s", exc, extra=self.log_extra)
            delivery.ack()
            return
        if self.policy.run(lambda: self.runner.handle(actor, msg), delivery, self.stop) is Disposition.ACK:
            self.runner.remove_finished()
        self.heartbeat.beat()
