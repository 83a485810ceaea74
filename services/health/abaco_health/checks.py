"""Health jobs, each run by APScheduler: look at the workers of this host and mend what is wrong."""

from __future__ import annotations

import logging

from abaco_shared.channels import WorkerChannel
from abaco_shared.context import Context
from abaco_shared.enums import WorkerStatus
from abaco_shared.errors import ChannelError
from abaco_shared.models import Worker
from abaco_shared.runtime import pid_alive

__all__ = ["HealthChecker"]

log = logging.getLogger(__name__)

RUNNING = [WorkerStatus.UPDATING_STORE.value, WorkerStatus.READY.value, WorkerStatus.BUSY.value,
           WorkerStatus.SHUTDOWN_REQUESTED.value, WorkerStatus.SHUTTING_DOWN.value]


class HealthChecker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.host_id = ctx.cfg.spawner.host_id

    def check_workers(self) -> dict[str, int]:
        """Remove records of worker processes that are gone; ask live ones for a status beat."""
        reaped = pinged = 0
        for worker in Worker.objects(host_id=self.host_id, status__in=RUNNING, pid__ne=None):
            if not pid_alive(worker.pid):
                Worker.objects(db_id=worker.db_id, pid=worker.pid).delete()
                reaped += 1
                log.warning("reaped a worker whose process is gone",
                            extra={"worker_id": worker.worker_id, "actor_id": worker.actor_dbid, "pid": worker.pid})
                continue
            try:
                WorkerChannel(self.ctx.broker, worker.worker_id).send("status")
                pinged += 1
            except ChannelError as exc:
                log.warning("could not ping worker %s: %s", worker.worker_id, exc)
        if reaped:
            log.info("health pass", extra={"reaped": reaped, "pinged": pinged})
        return {"reaped": reaped, "pinged": pinged}
