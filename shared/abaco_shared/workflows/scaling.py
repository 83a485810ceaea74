"""Asking for workers and stopping them."""

from __future__ import annotations

import logging

from .. import actors, workers
from ..broker import Broker
from ..channels import CommandChannel, WorkerChannel
from ..enums import WorkerCommandName, WorkerStatus
from ..errors import ChannelError, Conflict, ValidationError
from ..ids import new_id
from ..messages import SpawnCommand
from ..models import Actor, Worker, utcnow

__all__ = ["request_worker", "ensure_one_worker", "ensure_workers", "stop_workers", "stop_worker", "claim_slot"]

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


def ensure_workers(actor: Actor, num: object, broker: Broker, limit: int) -> tuple[int, int]:
    """Request workers until the actor has at least ``num`` alive or on their way (POST workers).

    1. refuse ``num`` outside 1..``limit`` and a stateful actor asking for more than one (400),
       and an actor in ERROR or SHUTTING_DOWN (409);
    2. count the actor's workers that take messages (REQUESTED .. BUSY);
    3. request the missing ones with :func:`request_worker`.
    Returns ``(scheduled, previously)``. A failed publish propagates the ChannelError after the
    workers already requested (each request is all or nothing). Two concurrent calls may both
    see the same gap and overshoot ``num`` (not prevented yet: no lock across callers).
    """
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= limit:
        raise ValidationError(f"num must be an integer from 1 to {limit}.")
    if not actor.stateless and num > 1:
        raise ValidationError("stateful actors can only have 1 worker")
    if not actors.accepts_work(actor):
        raise Conflict(f"Actor {actor.actor_id} is in status {actor.status}: it cannot get workers.")
    previously = workers.count_pending(actor.db_id)
    missing = max(0, num - previously)
    for _ in range(missing):
        request_worker(actor, broker)
    return missing, previously


def stop_worker(worker: Worker, broker: Broker) -> None:
    """Gracefully stop one worker (DELETE of a worker): it finishes its running execution first.

    A worker with no process yet (REQUESTED, SPAWNER SETUP) is deleted, if it still has that
    status: the spawner drops a command whose record is gone. Any other worker is marked
    SHUTDOWN_REQUESTED and gets ``stop-no-delete`` on its channel; the worker deletes its record
    when it exits, and the health service reaps one that never does. A ChannelError propagates.
    """
    if worker.status in NOT_YET_STARTED and workers.delete_if(worker.db_id, status=worker.status):
        return
    workers.set_status(worker.db_id, WorkerStatus.SHUTDOWN_REQUESTED)
    WorkerChannel(broker, worker.worker_id).send(WorkerCommandName.STOP_NO_DELETE)
