"""One execution: SUBMITTED -> RUNNING -> COMPLETE, with exit code, times, CPU, I/O and logs."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from mongoengine.queryset.visitor import Q

from abaco_shared.containers import ContainerResult, ContainerSpec, DockerApi
from abaco_shared.context import Context
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.errors import DockerError
from abaco_shared.lifecycle import set_worker_status
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Actor, Execution, Log, Worker, utcnow
from abaco_shared.runtime import pid_alive
from abaco_shared.waiters import notify_done

from .cgroups import CgroupMeter
from .environment import container_env

if TYPE_CHECKING:
    from .worker import WorkerState

__all__ = ["ExecutionRunner"]

log = logging.getLogger(__name__)

TERMINAL = [s.value for s in ExecutionStatus if s.terminal]


class ExecutionRunner:
    def __init__(
        self,
        ctx: Context,
        docker: DockerApi,
        meter: CgroupMeter,
        cgroup_parent: str,
        worker_id: str,
        state: WorkerState,
    ) -> None:
        self.cgroup_parent = cgroup_parent
        self.ctx = ctx
        self.cfg = ctx.cfg.worker
        self.docker = docker
        self.meter = meter
        self.worker_id = worker_id
        self.state = state
        self.finished_container = ""

    def handle(self, actor: Actor, msg: MailboxMessage) -> bool:
        """Run one message. True when its execution is terminal (ack); False to retry it later."""
        ex_dbid = f"{actor.db_id}_{msg.execution_id}"
        extra = {"actor_id": actor.db_id, "worker_id": self.worker_id, "execution_id": msg.execution_id}
        if self._running_elsewhere(ex_dbid):
            log.info("execution is running on another live worker (duplicate message): later", extra=extra)
            return False
        # an execution health gave up on as LOST is revived: its message did turn up
        claimable = Q(status__nin=TERMINAL) | Q(outcome=ExecutionOutcome.LOST.value)
        claimed = Execution.objects(Q(db_id=ex_dbid) & claimable).modify(
            new=True,
            set__worker_id=self.worker_id,
            inc__attempts=1,
            set__status=ExecutionStatus.SUBMITTED.value,
            unset__outcome=True,
            set__status_message="",
        )
        if claimed is None:
            log.info("execution already terminal or unknown: acking its message", extra=extra)
            return True
        attempts = claimed.attempts
        if attempts > self.cfg.max_attempts:
            log.error("giving up on an execution after %s attempts", attempts - 1, extra=extra)
            self._finish_not_started(ex_dbid, f"Gave up after {attempts - 1} attempts to run it.")
            return True
        worker_dbid = f"{actor.db_id}_{self.worker_id}"
        set_worker_status(worker_dbid, WorkerStatus.BUSY)
        with self.state.lock:
            self.state.execution_id = msg.execution_id
            self.state.force_quit = False
        try:
            return self._run(actor, msg, ex_dbid, attempts, extra)
        finally:
            with self.state.lock:
                self.state.execution_id = ""
                self.state.container_id = ""
            set_worker_status(worker_dbid, WorkerStatus.READY, last_execution_time=utcnow())

    def _run(self, actor: Actor, msg: MailboxMessage, ex_dbid: str, attempts: int, extra: dict) -> bool:
        spec = ContainerSpec(
            image=actor.image,
            environment=container_env(actor, msg, self.worker_id, self.ctx.cfg.general.api_server),
            labels={
                "abaco.worker": self.worker_id,
                "abaco.actor": actor.db_id,
                "abaco.execution": msg.execution_id,
                "abaco.install": self.ctx.cfg.general.install_id,
            },
            network_mode=self.cfg.network,
            cgroup_parent=self.cgroup_parent,
            mem_limit=actor.mem_limit or self.cfg.mem_limit or None,
            nano_cpus=actor.max_cpus or self.cfg.max_cpus or None,
            max_run_time=self._max_run_time(actor),
        )
        before = self.meter.read()
        try:
            result = self.docker.run(
                spec, on_started=lambda cid: self._started(ex_dbid, cid), max_log_length=self.cfg.max_log_length
            )
        except DockerError as exc:
            if attempts < self.cfg.max_attempts:
                log.warning("container did not run (attempt %s): %s", attempts, exc, extra=extra)
                return False
            log.error("container could not run after %s attempts: %s", attempts, exc, extra=extra)
            self._finish_not_started(ex_dbid, str(exc))
            return True
        usage = self.meter.read() - before
        self.finished_container = result.container_id
        try:
            self._record(actor, ex_dbid, msg.execution_id, result, usage.cpu_ns, usage.io_bytes)
        except BaseException:
            self.remove_finished()
            raise
        notify_done(self.ctx.redis, self.ctx.cfg.redis.key_prefix, ex_dbid)
        log.info(
            "execution complete",
            extra={**extra, "exit_code": result.exit_code, "runtime_ms": result.runtime_ms},
        )
        return True

    def _running_elsewhere(self, ex_dbid: str) -> bool:
        """True when another worker that is still alive is running this execution.

        A duplicate delivery must not run the execution a second time concurrently; a redelivery
        after its worker died must run it. On this host the worker's pid tells; for a worker on
        another host its record is trusted until health removes it.
        """
        ex = Execution.objects(db_id=ex_dbid).only("status", "worker_id").first()
        if ex is None or ex.status != ExecutionStatus.RUNNING.value or ex.worker_id in ("", self.worker_id):
            return False
        other = Worker.objects(actor_dbid=ex_dbid.rsplit("_", 1)[0], worker_id=ex.worker_id).first()
        if other is None:
            return False
        if other.host_id == self.ctx.cfg.spawner.host_id:
            return pid_alive(other.pid)
        return True

    def remove_finished(self) -> None:
        """Remove the last exited container (after its execution is recorded and acked)."""
        cid, self.finished_container = self.finished_container, ""
        if cid and not self.cfg.leave_containers:
            self.docker.remove(cid)

    def _max_run_time(self, actor: Actor) -> int:
        """The tightest of the actor's, the platform default and the hard limit (always bounded:
        the broker's consumer_timeout must stay above it, or the late ack would be refused)."""
        limits = [t for t in (actor.max_run_time, self.cfg.max_run_time) if t and t > 0]
        return min([*limits, self.cfg.max_run_time_limit])

    def _started(self, ex_dbid: str, cid: str) -> None:
        with self.state.lock:
            self.state.container_id = cid
            quit_now = self.state.force_quit
        Execution.objects(db_id=ex_dbid).update_one(set__status=ExecutionStatus.RUNNING.value, set__start_time=utcnow())
        if quit_now:
            self.docker.stop(cid, grace=self.cfg.stop_grace)

    def force_quit(self, execution_id: str) -> None:
        """Stop the running container (if it is ``execution_id``, or any when empty)."""
        with self.state.lock:
            if execution_id and execution_id != self.state.execution_id:
                return
            self.state.force_quit = True
            cid = self.state.container_id
        if cid:
            self.docker.stop(cid, grace=self.cfg.stop_grace)

    def _record(
        self, actor: Actor, ex_dbid: str, execution_id: str, result: ContainerResult, cpu: int, io: int
    ) -> None:
        with self.state.lock:
            forced = self.state.force_quit
        if result.timed_out:
            outcome = ExecutionOutcome.TIMED_OUT
        elif forced:
            outcome = ExecutionOutcome.FORCE_QUIT
        elif result.exit_code != 0:
            outcome = ExecutionOutcome.FAILED
        else:
            outcome = ExecutionOutcome.SUCCESS
        now = utcnow()
        Log(
            db_id=ex_dbid,
            actor_dbid=actor.db_id,
            tenant=actor.tenant,
            execution_id=execution_id,
            logs=result.logs,
            exp=now + dt.timedelta(seconds=actor.log_ex) if actor.log_ex else None,
        ).save()
        final_state = {k: v for k, v in result.final_state.items() if k in _FINAL_STATE_KEYS}
        Execution.objects(db_id=ex_dbid).update_one(
            set__status=ExecutionStatus.COMPLETE.value,
            set__outcome=outcome.value,
            set__exit_code=result.exit_code,
            set__start_time=result.started_at or now,
            set__finish_time=result.finished_at or now,
            set__runtime=result.runtime_ms,
            set__cpu=cpu,
            set__io=io,
            set__final_state=final_state,
        )

    def _finish_not_started(self, ex_dbid: str, reason: str) -> None:
        Execution.objects(db_id=ex_dbid).update_one(
            set__status=ExecutionStatus.ERROR.value,
            set__outcome=ExecutionOutcome.NOT_STARTED.value,
            set__status_message=reason,
            set__finish_time=utcnow(),
        )
        notify_done(self.ctx.redis, self.ctx.cfg.redis.key_prefix, ex_dbid)


_FINAL_STATE_KEYS = ("Status", "ExitCode", "OOMKilled", "Error", "StartedAt", "FinishedAt", "Dead", "Running")
