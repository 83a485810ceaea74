"""Asking for workers and stopping them."""

from __future__ import annotations

import logging

from .. import actors, workers
from ..broker import Broker
from ..channels import CommandChannel, WorkerChannel
from ..enums import WorkerCommandName, WorkerStatus
from ..errors import ChannelError
from ..ids import new_id
from ..messages import SpawnCommand
from ..models import Actor, Worker, utcnow

__all__ = ["request_worker", "ensure_one_worker", "stop_workers", "claim_slot"]

log = logging.getLogger(__name__)

NOT_YET_STARTED = (WorkerStatus.REQUESTED.value, WorkerStatus.SPAWNER_SETUP.value)


def request_worker(actor: Actor, broker: Broker, stop_existing: bool = False) -> Worker:
    """Record a REQUESTED worker and ask the spawners of the actor's queue to start it.

    1. insert the worker record (REQUESTED);
    2. publish a spawn command on ``command_channel_<actor.queue>``.
    If the publish fails, the record is deleted (a REQUESTED record nobody will spawn would block
    cold starts) and the ChannelError propagates.
    """
    worker = workers.create_requested(actor, new_id())
    cmd = SpawnCommand(
        actor_dbid=actor.db_id,
        worker_id=worker.worker_id,
        image=actor.image,
        revision=actor.revision,
        tenant=actor.tenant,
        stop_existing=stop_existing,
    )
    try:
        CommandChannel(broker, actor.queue or "default").send_spawn(cmd)
    except ChannelError:
        workers.delete(worker.db_id)
        raise
    log.info("worker requested", extra={"actor_id": actor.db_id, "worker_id": worker.worker_id})
    return worker


def claim_slot() -> str:
    """A claim token that changes every 2 seconds, so a lost request is retried soon after."""
    now = utcnow()
    return f"{now:%Y%m%d%H%M}{now.second // 2}"


def ensure_one_worker(actor: Actor, broker: Broker) -> Worker | None:
    """Request a worker when the actor has none alive or on its way (a cold start).

    An atomic claim on the actor record keeps concurrent callers from requesting more than one
    worker for the same gap. Returns the requested worker, or None when none was needed.
    """
    if not actors.accepts_work(actor) or workers.has_pending(actor.db_id):
        return None
    if not actors.claim_worker_slot(actor.db_id, claim_slot()):
        return None
    return request_worker(actor, broker)


def stop_workers(
    actor_dbid: str,
    broker: Broker,
    command: WorkerCommandName = WorkerCommandName.STOP,
    exclude: str = "",
) -> int:
    """Ask every worker of an actor (but ``exclude``) to stop; returns how many were asked.

    A worker that has no process yet is deleted instead: the spawner drops a command whose record
    is gone. Others are marked SHUTDOWN_REQUESTED and get ``command`` on their channel.
    """
    count = 0
    for worker in workers.list_for_actor(actor_dbid):
        if worker.worker_id == exclude:
            continue
        if worker.status in NOT_YET_STARTED:
            workers.delete(worker.db_id)
            continue
        workers.set_status(worker.db_id, WorkerStatus.SHUTDOWN_REQUESTED)
        WorkerChannel(broker, worker.worker_id).send(command)
        count += 1
    return count
