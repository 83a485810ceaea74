"""Service-layer operations that cross stores and channels (used by the APIs and daemons)."""

from __future__ import annotations

import logging

from .broker import Broker
from .channels import CommandChannel, MailboxChannel, WorkerChannel
from .enums import ActorStatus, ExecutionOutcome, ExecutionStatus, WorkerStatus
from .errors import ChannelError
from .ids import new_id
from .messages import SpawnCommand
from .models import Actor, Execution, Worker, utcnow

__all__ = [
    "request_worker",
    "ensure_one_worker",
    "set_worker_status",
    "stop_workers",
    "remove_actor_channels",
    "cancel_pending_executions",
]

log = logging.getLogger(__name__)

# Transitions a worker may make, enforced by conditional updates (reference 3.3).
_ALLOWED_FROM: dict[WorkerStatus, tuple[WorkerStatus, ...]] = {
    WorkerStatus.SPAWNER_SETUP: (WorkerStatus.REQUESTED,),
    WorkerStatus.PULLING_IMAGE: (WorkerStatus.SPAWNER_SETUP,),
    WorkerStatus.CREATING_CONTAINER: (WorkerStatus.SPAWNER_SETUP, WorkerStatus.PULLING_IMAGE),
    WorkerStatus.UPDATING_STORE: (WorkerStatus.CREATING_CONTAINER,),
    WorkerStatus.READY: (WorkerStatus.UPDATING_STORE, WorkerStatus.READY, WorkerStatus.BUSY),
    WorkerStatus.BUSY: (WorkerStatus.READY, WorkerStatus.BUSY),
}


def set_worker_status(worker_dbid: str, status: WorkerStatus, message: str = "", **fields: object) -> bool:
    """Move a worker to ``status`` if the transition is allowed; False when it was not."""
    query: dict[str, object] = {"db_id": worker_dbid}
    allowed = _ALLOWED_FROM.get(status)
    if allowed is not None:
        query["status__in"] = [s.value for s in allowed]
    updates = {f"set__{k}": v for k, v in fields.items()}
    if message:
        updates["set__status_message"] = message
    return bool(Worker.objects(**query).update_one(set__status=status.value, **updates))


def request_worker(actor: Actor, broker: Broker, stop_existing: bool = False) -> Worker:
    """Record a REQUESTED worker and ask the spawners of the actor's queue to start it."""
    worker_id = new_id()
    worker = Worker(
        db_id=f"{actor.db_id}_{worker_id}",
        worker_id=worker_id,
        actor_dbid=actor.db_id,
        tenant=actor.tenant,
        image=actor.image,
        revision=actor.revision,
        ch_name=f"worker_{worker_id}",
    )
    worker.save(force_insert=True)
    cmd = SpawnCommand(
        actor_id=actor.db_id,
        worker_id=worker_id,
        image=actor.image,
        revision=actor.revision,
        tenant=actor.tenant,
        stop_existing=stop_existing,
    )
    try:
        CommandChannel(broker, actor.queue or "default").send_spawn(cmd)
    except ChannelError:
        worker.delete()  # a REQUESTED record nobody will spawn would block cold starts
        raise
    log.info("worker requested", extra={"actor_id": actor.db_id, "worker_id": worker_id})
    return worker


def ensure_one_worker(actor: Actor, broker: Broker) -> Worker | None:
    """Request a worker when the actor has none alive or on its way (cold start on message).

    An atomic claim on the actor record (``last_update_time`` is not touched) keeps concurrent
    callers from requesting more than one worker for the same gap.
    """
    if actor.status in (ActorStatus.SHUTTING_DOWN.value, ActorStatus.ERROR.value):
        return None
    if Worker.objects(actor_dbid=actor.db_id, status__in=[s.value for s in WorkerStatus.pending()]).first():
        return None
    claimed = Actor.objects(db_id=actor.db_id, worker_claim__ne=_claim_slot()).update_one(
        set__worker_claim=_claim_slot()
    )
    if not claimed:
        return None
    return request_worker(actor, broker)


def _claim_slot() -> str:
    """A claim token that changes every 2 seconds, so a lost request is retried soon after."""
    now = utcnow()
    return f"{now:%Y%m%d%H%M}{now.second // 2}"


def stop_workers(actor_dbid: str, broker: Broker, command: str = "stop", exclude: str = "") -> int:
    """Ask every live worker of an actor to stop; returns how many were asked."""
    count = 0
    for worker in Worker.objects(actor_dbid=actor_dbid):
        if worker.worker_id == exclude:
            continue
        if worker.status in (WorkerStatus.REQUESTED.value, WorkerStatus.SPAWNER_SETUP.value):
            worker.delete()  # never started: the spawner drops its command when the record is gone
            continue
        Worker.objects(db_id=worker.db_id).update_one(set__status=WorkerStatus.SHUTDOWN_REQUESTED.value)
        WorkerChannel(broker, worker.worker_id).send(command)
        count += 1
    return count


def remove_actor_channels(actor_dbid: str, broker: Broker) -> None:
    MailboxChannel(broker, actor_dbid).delete()


def cancel_pending_executions(actor_dbid: str, reason: str) -> int:
    """End executions whose messages will never run (purged mailbox, deleted actor)."""
    return int(
        Execution.objects(actor_dbid=actor_dbid, status=ExecutionStatus.SUBMITTED.value, worker_id="").update(
            set__status=ExecutionStatus.ERROR.value,
            set__outcome=ExecutionOutcome.NOT_STARTED.value,
            set__status_message=reason,
            set__finish_time=utcnow(),
        )
    )
