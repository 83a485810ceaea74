"""Health jobs, run by APScheduler: find what is wrong with this host's workers and mend it.

Nothing accepted may be lost: when a worker process dies, RabbitMQ hands its unacked message back
to the mailbox; the reaper removes the dead worker's record and its container and, if the actor
has unfinished executions and no worker, requests a new one, which runs the message again.
"""

from __future__ import annotations

import datetime as dt
import logging

from mongoengine.queryset.visitor import Q

from abaco_shared.channels import MailboxChannel, WorkerChannel
from abaco_shared.containers import DockerApi
from abaco_shared.context import Context
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, WorkerStatus
from abaco_shared.errors import AbacoError
from abaco_shared.lifecycle import ensure_one_worker
from abaco_shared.models import Actor, Execution, Worker, utcnow
from abaco_shared.runtime import pid_alive

__all__ = ["HealthChecker"]

log = logging.getLogger(__name__)

STARTING = [s.value for s in WorkerStatus.starting()]
STOPPING = [WorkerStatus.SHUTDOWN_REQUESTED.value, WorkerStatus.SHUTTING_DOWN.value]
LIVE = [
    s.value
    for s in (
        WorkerStatus.UPDATING_STORE,
        WorkerStatus.READY,
        WorkerStatus.BUSY,
        WorkerStatus.SHUTDOWN_REQUESTED,
        WorkerStatus.SHUTTING_DOWN,
    )
]


class HealthChecker:
    def __init__(self, ctx: Context, docker: DockerApi) -> None:
        self.ctx = ctx
        self.docker = docker
        self.host_id = ctx.cfg.spawner.host_id
        self.cfg = ctx.cfg.health

    def reap(self) -> dict[str, int]:
        """Remove dead and stuck workers and orphan containers; restart work left behind."""
        dead = 0
        for worker in Worker.objects(host_id=self.host_id, status__in=LIVE, pid__ne=None):
            if not pid_alive(worker.pid):
                if Worker.objects(db_id=worker.db_id, pid=worker.pid).delete():
                    dead += 1
                    log.warning(
                        "reaped a worker whose process is gone",
                        extra={"worker_id": worker.worker_id, "actor_id": worker.actor_dbid, "pid": worker.pid},
                    )
        cutoff = utcnow() - dt.timedelta(seconds=self.cfg.startup_timeout)
        stuck = 0
        never_started = Q(status__in=STARTING) | Q(status__in=STOPPING, pid=None)
        for worker in Worker.objects(never_started & Q(create_time__lt=cutoff)):
            if Worker.objects(db_id=worker.db_id, status=worker.status).delete():
                stuck += 1
                log.warning(
                    "reaped a worker stuck in %s",
                    worker.status,
                    extra={"worker_id": worker.worker_id, "actor_id": worker.actor_dbid},
                )
        orphans = self._remove_orphan_containers()
        lost = self._end_lost_executions()
        restarted = self._resume_pending_work()
        counts = {"dead": dead, "stuck": stuck, "orphans": orphans, "lost": lost, "restarted": restarted}
        if any(counts.values()):
            log.info("reap pass", extra=counts)
        return counts

    def _remove_orphan_containers(self) -> int:
        """Actor containers whose worker is gone (its process died while the container ran)."""
        removed = 0
        try:
            containers = self.docker.list_labelled(f"abaco.install={self.ctx.cfg.general.install_id}")
        except AbacoError as exc:
            log.warning("cannot list actor containers: %s", exc)
            return 0
        for c in containers:
            labels = c.get("Labels") or {}
            worker_dbid = f"{labels.get('abaco.actor', '')}_{labels.get('abaco.worker', '')}"
            if Worker.objects(db_id=worker_dbid).first() is None:
                self.docker.remove(c["Id"])
                removed += 1
        return removed

    def _end_lost_executions(self) -> int:
        """End executions whose message never reached the mailbox (a crash between the record
        and the publish): never claimed by a worker, old, and their actor's mailbox is empty.

        Safe against a race with delivery: a worker that then claims one revives it (LOST is
        claimable), so a message that does exist still runs.
        """
        cutoff = utcnow() - dt.timedelta(seconds=self.cfg.lost_after)
        old = Execution.objects(status=ExecutionStatus.SUBMITTED.value, worker_id="", message_received_time__lt=cutoff)
        ended = 0
        for actor_dbid in old.distinct("actor_dbid"):
            try:
                if MailboxChannel(self.ctx.broker, actor_dbid).length() > 0:
                    continue
            except AbacoError as exc:
                log.warning("cannot read the mailbox of %s: %s", actor_dbid, exc)
                continue
            ended += Execution.objects(
                actor_dbid=actor_dbid,
                status=ExecutionStatus.SUBMITTED.value,
                worker_id="",
                message_received_time__lt=cutoff,
            ).update(
                set__status=ExecutionStatus.ERROR.value,
                set__outcome=ExecutionOutcome.LOST.value,
                set__status_message="Its message never reached the actor's mailbox.",
                set__finish_time=utcnow(),
            )
        if ended:
            log.warning("ended executions whose message was lost", extra={"count": ended})
        return ended

    def _resume_pending_work(self) -> int:
        """Request a worker for every actor that has unfinished executions but no worker.

        This covers a worker that died mid-execution (its message went back to the mailbox), one
        that exited on its own, and a restart of the whole platform with messages still queued.
        """
        requested = 0
        waiting = Execution.objects(status__in=[ExecutionStatus.SUBMITTED.value, ExecutionStatus.RUNNING.value])
        for actor_dbid in waiting.distinct("actor_dbid"):
            if Worker.objects(actor_dbid=actor_dbid, status__in=STARTING + LIVE).first() is not None:
                continue
            actor = Actor.objects(db_id=actor_dbid).first()
            if actor is None:
                continue
            try:
                if ensure_one_worker(actor, self.ctx.broker) is not None:
                    requested += 1
                    log.info("requested a worker for waiting messages", extra={"actor_id": actor_dbid})
            except AbacoError as exc:
                log.warning("could not request a worker for %s: %s", actor_dbid, exc)
        return requested

    def ping(self) -> int:
        """Ask every live worker of this host for a status beat (it updates last_health_check_time)."""
        pinged = 0
        for worker in Worker.objects(host_id=self.host_id, status__in=LIVE):
            try:
                WorkerChannel(self.ctx.broker, worker.worker_id).send("status")
                pinged += 1
            except AbacoError as exc:
                log.warning("could not ping worker %s: %s", worker.worker_id, exc)
        return pinged
