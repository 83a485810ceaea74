"""Asking for workers and stopping them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import actors, workers
from ..broker import Broker
from ..channels import CommandChannel, WorkerChannel
from ..enums import WorkerCommandName, WorkerStatus
from ..errors import ChannelError, Conflict, ValidationError
from ..ids import new_id
from ..messages import SpawnCommand
from ..models import Actor, Worker, utcnow

__all__ = [
    "Quota",
    "request_worker",
    "ensure_one_worker",
    "ensure_workers",
    "stop_workers",
    "stop_worker",
    "claim_slot",
]

log = logging.getLogger(__name__)

NOT_YET_STARTED = (WorkerStatus.REQUESTED.value, WorkerStatus.SPAWNER_SETUP.value)


@dataclass(frozen=True)
class Quota:
    """Workers (REQUESTED .. BUSY) one tenant and one owner may have; 0 is unlimited.

    Scale-up (the autoscaler, POST workers) stays within it. A cold start (the first worker of an
    actor that has none, when a message arrives) is never refused: a message never waits on a
    quota; the autoscaler then stops idle workers, which brings the count back down."""

    per_tenant: int = 0
    per_user: int = 0

    def room(self, actor: Actor) -> int | None:
        """How many more workers ``actor``'s tenant and owner may get (None: no limit)."""
        rooms: list[int] = []
        if self.per_tenant > 0:
            rooms.append(self.per_tenant - workers.count_pending_of(actor.tenant))
        if self.per_user > 0:
            owned = actors.dbids_of_owner(actor.tenant, actor.owner)
            rooms.append(self.per_user - workers.count_pending_of(actor.tenant, owned))
        return max(0, min(rooms)) if rooms else None


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


def claim_slot(period: int = 2, prefix: str = "") -> str:
    """A claim token that changes every ``period`` seconds (1..60), so a lost request is retried
    soon after; ``prefix`` keeps the claims of different callers (the autoscaler) apart."""
    now = utcnow()
    return f"{prefix}{now:%Y%m%d%H%M}{now.second // max(1, period)}"


def ensure_one_worker(actor: Actor, broker: Broker) -> Worker | None:
    """Request a worker when the actor has none alive or on its way (a cold start).

    An atomic claim on the actor record keeps concurrent callers from requesting more than one
    worker for the same gap. Returns the requested worker, or None when none was needed.
    """
    if not actors.accepts_work(actor) or workers.has_pending_cached(actor.db_id):
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


def ensure_workers(
    actor: Actor, num: object, broker: Broker, limit: int, quota: Quota | None = None
) -> tuple[int, int]:
    """Request workers until the actor has at least ``num`` alive or on their way (POST workers).

    1. refuse ``num`` outside 1..``limit`` and a stateful actor asking for more than one (400),
       and an actor in ERROR or SHUTTING_DOWN (409), and more than ``quota`` leaves room for (409);
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
    room = quota.room(actor) if quota is not None and missing else None
    if room is not None and missing > room:
        raise Conflict(f"the worker quota of this tenant or user leaves room for {room} more worker(s), not {missing}.")
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
