"""Health jobs, run by APScheduler: find what is wrong with this host's workers and mend it.

Nothing accepted may be lost: when a worker process dies, RabbitMQ hands its unacked message back
to the mailbox; the reaper removes the dead worker's record and its container and, if the actor
has unfinished executions and no worker, requests a new one, which runs the message again.

A reaped worker never exited cleanly, so it never had its clientg credential revoked: the reaper
asks clientg to (without waiting: the request stays queued until clientg takes it).

Every actor that had a worker gets one again: a worker reaped while nobody had asked it to stop
(it died, got stuck, or failed and left its record, as after a long broker outage) has a
replacement requested, idle actor or not, pass after pass until one is on its way.

A store outage is waited out: a pass that meets one ends there (it is tried again on the next
run) and says so once per outage, not once per try (``outages.Outage``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass

from abaco_shared import actors, executions, workers
from abaco_shared.broker import Broker
from abaco_shared.channels import ClientsChannel, MailboxChannel, WorkerChannel
from abaco_shared.config import HealthConfig, HostConfig
from abaco_shared.containers import DockerApi
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, WorkerCommandName, WorkerStatus
from abaco_shared.errors import AbacoError
from abaco_shared.messages import ClientRequest
from abaco_shared.models import Worker, utcnow
from abaco_shared.outages import Outage, store_of
from abaco_shared.runtime import pid_alive, spawner_may_be_alive
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
        # actors whose worker was reaped although nobody asked it to stop: each gets a new one
        self.bereaved: set[str] = set()
        self.reap_outage = Outage("health's reap pass", logger=log)
        self.ping_outage = Outage("health's ping pass", logger=log)

    def reap(self) -> ReapReport:
        """Remove dead and stuck workers and orphan containers; restart work left behind.

        A store outage ends the pass (logged once per outage); the next run tries again."""
        report = ReapReport()
        try:
            report.dead = self._reap_dead()
            report.stuck = self._reap_stuck()
            report.orphans = self._remove_orphan_containers()
            report.lost = self._end_lost_executions()
            report.restarted = self._resume_pending_work()
        except Exception as exc:
            if store_of(exc) is None:
                raise
            self.reap_outage.failed(exc)
        else:
            self.reap_outage.ended()
        if any(asdict(report).values()):
            log.info("reap pass", extra=asdict(report))
        return report

    def _bereave(self, worker: Worker) -> None:
        """Remember the actor of a reaped worker that was not asked to stop: it gets another."""
        if worker.status not in {s.value for s in workers.STOPPING}:
            self.bereaved.add(worker.actor_dbid)

    def _reap_dead(self) -> int:
        """Workers of this host whose process is gone."""
        dead = 0
        for worker in workers.live_on_host(self.host_id, with_pid=True):
            if not pid_alive(worker.pid) and workers.delete_if(worker.db_id, pid=worker.pid):
                dead += 1
                self._bereave(worker)
                self._revoke_credential(worker)
                log.warning(
                    "reaped a worker whose process is gone",
                    extra={"worker_id": worker.worker_id, "actor_id": worker.actor_dbid, "pid": worker.pid},
                )
        return dead

    def _reap_stuck(self) -> int:
        """Workers that never got a process within the start-up timeout (``spawning_grace`` when a
        live spawner is still starting one: it waits for it, and says when it gives up; another
        host's spawner is judged by that host's health)."""
        stuck = 0
        graced = utcnow() - dt.timedelta(seconds=self.cfg.spawning_grace)
        for worker in workers.stuck_before(utcnow() - dt.timedelta(seconds=self.cfg.startup_timeout)):
            if worker.create_time > graced and spawner_may_be_alive(worker.spawner or "", self.host_id):
                continue
            if workers.delete_if(worker.db_id, status=worker.status):
                stuck += 1
                self._bereave(worker)
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
        """Actor containers whose worker is gone (its process died while the container ran), once
        their execution has ended: until then the container is left for the worker that gets the
        redelivered message, which adopts it and records its result (it never runs twice)."""
        try:
            containers = self.docker.list_labelled(f"abaco.install={self.install_id}")
        except AbacoError as exc:
            log.warning("cannot list actor containers: %s", exc)
            return 0

        def worker_of(container: dict) -> str:
            labels = container.get("Labels") or {}
            return workers.key_for(labels.get("abaco.actor", ""), labels.get("abaco.worker", ""))

        alive = workers.existing(worker_of(c) for c in containers)  # one query for all of them
        removed = 0
        for c in containers:
            labels = c.get("Labels") or {}
            if worker_of(c) not in alive and not self._left_for_adoption(c, labels):
                self.docker.remove(c["Id"])
                removed += 1
        return removed

    def _left_for_adoption(self, container: dict, labels: dict[str, str]) -> bool:
        """Whether a container whose worker is gone stays, for the adopter of its unfinished
        execution. Safety net: when its actor is gone, or it is older than its run-time limit
        plus ``adoption_grace``, its execution is ended (unless adopted meanwhile) and it goes."""
        actor_dbid, execution_id = labels.get("abaco.actor", ""), labels.get("abaco.execution", "")
        if not execution_id:
            return False
        ex_dbid = executions.key_for(actor_dbid, execution_id)
        ex = executions.current(ex_dbid)
        if ex is None or ExecutionStatus(ex.status).terminal:
            return False
        holder = ex.worker_id or ""
        if holder != labels.get("abaco.worker") and workers.exists(workers.key_for(actor_dbid, holder)):
            return True  # adopted by a live worker, which removes it
        run_time = labels.get("abaco.max_run_time", "")
        limit = int(run_time) if run_time.isdigit() else 7 * 86400  # unlabelled: worker.max_run_time_limit
        age = time.time() - float(container.get("Created") or time.time())
        if actors.get(actor_dbid) is None:
            outcome, reason = ExecutionOutcome.FORCE_QUIT, "its actor was deleted"
        elif age > limit + self.cfg.adoption_grace:
            outcome = ExecutionOutcome.TIMED_OUT
            reason = f"no worker adopted it within its run-time limit of {limit} s plus {self.cfg.adoption_grace} s"
        else:
            return True
        message = f"Its worker died and {reason}; its container was removed."
        if executions.end(ex_dbid, outcome, message, worker_id=holder):
            log.warning(
                "ended an execution whose container outlived its worker: %s",
                reason,
                extra={"actor_id": actor_dbid, "execution_id": execution_id},
            )
        return not executions.is_terminal(ex_dbid)

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
                if store_of(exc) is not None:
                    raise
                log.warning("cannot read the mailbox of %s: %s", actor_dbid, exc)
                continue
            ended += executions.end_lost(actor_dbid, cutoff, LOST_REASON)
        if ended:
            log.warning("ended executions whose message was lost", extra={"count": ended})
        return ended

    def _resume_pending_work(self) -> int:
        """Request a worker for every actor that has unfinished executions, or lost its worker
        (:attr:`bereaved`), but has no worker.

        This covers a worker that died mid-execution (its message went back to the mailbox), one
        that exited on its own, idle actors whose worker died or failed (after a long broker
        outage), and a restart of the whole platform with messages still queued.
        """
        requested = 0
        for actor_dbid in sorted(set(executions.actors_with_unfinished()) | self.bereaved):
            if workers.has_pending(actor_dbid, WITH_WORKER):
                self.bereaved.discard(actor_dbid)
                continue
            actor = actors.get(actor_dbid)
            if actor is None or not actors.accepts_work(actor):
                self.bereaved.discard(actor_dbid)
                continue
            try:
                if ensure_one_worker(actor, self.broker) is not None:
                    requested += 1
                    self.bereaved.discard(actor_dbid)
                    log.info("requested a worker for an actor without one", extra={"actor_id": actor_dbid})
            except AbacoError as exc:
                if store_of(exc) is not None:
                    raise
                log.warning("could not request a worker for %s: %s", actor_dbid, exc)
        return requested

    def ping(self) -> int:
        """Ask every live worker of this host for a status beat (it updates last_health_check_time).

        A store outage ends the pass (logged once per outage)."""
        pinged = 0
        try:
            for worker in workers.live_on_host(self.host_id):
                try:
                    WorkerChannel(self.broker, worker.worker_id).send(WorkerCommandName.STATUS)
                    pinged += 1
                except AbacoError as exc:
                    if store_of(exc) is not None:
                        raise
                    log.warning("could not ping worker %s: %s", worker.worker_id, exc)
        except Exception as exc:
            if store_of(exc) is None:
                raise
            self.ping_outage.failed(exc)
        else:
            self.ping_outage.ended()
        return pinged
