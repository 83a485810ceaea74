"""Health jobs, run by APScheduler: find what is wrong with this host's workers and mend it.

Nothing accepted may be lost: when a worker process dies, RabbitMQ hands its unacked message back
to the mailbox; the reaper removes the dead worker's record and its container and, if the actor
has unfinished executions and no worker, requests a new one, which runs the message again.

A reaped worker never exited cleanly, so it never had its clientg credential revoked: the reaper
asks clientg to (without waiting: the request stays queued until clientg takes it).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

from abaco_shared import actors, executions, workers
from abaco_shared.broker import Broker
from abaco_shared.channels import ClientsChannel, MailboxChannel, WorkerChannel
from abaco_shared.config import HealthConfig, HostConfig
from abaco_shared.containers import DockerApi
from abaco_shared.enums import WorkerCommandName, WorkerStatus
from abaco_shared.errors import AbacoError
from abaco_shared.messages import ClientRequest
from abaco_shared.models import Worker, utcnow
from abaco_shared.runtime import pid_alive
from abaco_shared.workflows.scaling import ensure_one_worker

__all__ = ["HealthChecker", "ReapReport"]

log = logging.getLogger(__name__)

WITH_WORKER = (*WorkerStatus.starting(), *workers.LIVE)
LOST_REASON = "Its message never reached the actor's mailbox."


@dataclass
class ReapReport:
    """What one reap pass changed."""

    dead: int = 0
    stuck: int = 0
    orphans: int = 0
    lost: int = 0
    restarted: int = 0


class HealthChecker:
    """The health jobs of one host: reap, then restart what was left waiting; ping the living."""

    def __init__(
        self,
        cfg: HealthConfig,
        host: HostConfig,
        broker: Broker,
        docker: DockerApi,
        install_id: str,
        clients: ClientsChannel | None = None,
    ) -> None:
        self.cfg = cfg
        self.host_id = host.host_id
        self.broker = broker
        self.docker = docker
        self.install_id = install_id
        self.clients = clients or ClientsChannel(broker)

    def reap(self) -> ReapReport:
        """Remove dead and stuck workers and orphan containers; restart work left behind."""
        report = ReapReport(
            dead=self._reap_dead(),
            stuck=self._reap_stuck(),
            orphans=self._remove_orphan_containers(),
            lost=self._end_lost_executions(),
        )
        report.restarted = self._resume_pending_work()
        if any(asdict(report).values()):
            log.info("reap pass", extra=asdict(report))
        return report

    def _reap_dead(self) -> int:
        """Workers of this host whose process is gone."""
        dead = 0
        for worker in workers.live_on_host(self.host_id, with_pid=True):
            if not pid_alive(worker.pid) and workers.delete_if(worker.db_id, pid=worker.pid):
                dead += 1
                self._revoke_credential(worker)
                log.warning(
                    "reaped a worker whose process is gone",
                    extra={"worker_id": worker.worker_id, "actor_id": worker.actor_dbid, "pid": worker.pid},
                )
        return dead

    def _reap_stuck(self) -> int:
        """Workers that never got a process within the start-up timeout."""
        stuck = 0
        for worker in workers.stuck_before(utcnow() - dt.timedelta(seconds=self.cfg.startup_timeout)):
            if workers.delete_if(worker.db_id, status=worker.status):
                stuck += 1
                self._revoke_credential(worker)
                log.warning(
                    "reaped a worker stuck in %s",
                    worker.status,
                    extra={"worker_id": worker.worker_id, "actor_id": worker.actor_dbid},
                )
        return stuck

    def _revoke_credential(self, worker: Worker) -> None:
        """Have clientg revoke the reaped worker's credential (a no-op when it had none)."""
        req = ClientRequest("delete", worker.tenant, worker.actor_dbid, worker.worker_id)
        try:
            self.clients.tell(req)
        except AbacoError as exc:
            log.warning("could not ask clientg to revoke a credential: %s", exc, extra={"worker_id": worker.worker_id})

    def _remove_orphan_containers(self) -> int:
        """Actor containers whose worker is gone (its process died while the container ran)."""
        try:
            containers = self.docker.list_labelled(f"abaco.install={self.install_id}")
        except AbacoError as exc:
            log.warning("cannot list actor containers: %s", exc)
            return 0
        removed = 0
        for c in containers:
            labels = c.get("Labels") or {}
            worker_dbid = workers.key_for(labels.get("abaco.actor", ""), labels.get("abaco.worker", ""))
            if not workers.exists(worker_dbid):
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
        ended = 0
        for actor_dbid in executions.actors_with_unclaimed_before(cutoff):
            try:
                if MailboxChannel(self.broker, actor_dbid).length() > 0:
                    continue
            except AbacoError as exc:
                log.warning("cannot read the mailbox of %s: %s", actor_dbid, exc)
                continue
            ended += executions.end_lost(actor_dbid, cutoff, LOST_REASON)
        if ended:
            log.warning("ended executions whose message was lost", extra={"count": ended})
        return ended

    def _resume_pending_work(self) -> int:
        """Request a worker for every actor that has unfinished executions but no worker.

        This covers a worker that died mid-execution (its message went back to the mailbox), one
        that exited on its own, and a restart of the whole platform with messages still queued.
        """
        requested = 0
        for actor_dbid in executions.actors_with_unfinished():
            if workers.has_pending(actor_dbid, WITH_WORKER):
                continue
            actor = actors.get(actor_dbid)
            if actor is None:
                continue
            try:
                if ensure_one_worker(actor, self.broker) is not None:
                    requested += 1
                    log.info("requested a worker for waiting messages", extra={"actor_id": actor_dbid})
            except AbacoError as exc:
                log.warning("could not request a worker for %s: %s", actor_dbid, exc)
        return requested

    def ping(self) -> int:
        """Ask every live worker of this host for a status beat (it updates last_health_check_time)."""
        pinged = 0
        for worker in workers.live_on_host(self.host_id):
            try:
                WorkerChannel(self.broker, worker.worker_id).send(WorkerCommandName.STATUS)
                pinged += 1
            except AbacoError as exc:
                log.warning("could not ping worker %s: %s", worker.worker_id, exc)
        return pinged
