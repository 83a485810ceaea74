"""Actor records: their keys, queries and status changes. The only module that queries actors.

An actor's key (its ``db_id``) is ``<tenant>_<actor_id>`` (reference section 0); tenant names
never contain ``_`` (see ``auth``), so the key splits back unambiguously.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .enums import ActorStatus
from .ids import new_id
from .models import Actor, utcnow

__all__ = [
    "key_for",
    "split_key",
    "create",
    "get",
    "find",
    "list_visible",
    "apply_update",
    "set_status",
    "mark_ready",
    "fail",
    "claim_worker_slot",
    "delete",
    "accepts_work",
]


def key_for(tenant: str, actor_id: str) -> str:
    return f"{tenant}_{actor_id}"


def split_key(actor_dbid: str) -> tuple[str, str]:
    """``(tenant, actor_id)`` of an actor key."""
    tenant, _, actor_id = actor_dbid.partition("_")
    return tenant, actor_id


def create(tenant: str, owner: str, values: dict[str, Any]) -> Actor:
    """Insert a new actor with a fresh id (``values`` are validated fields)."""
    actor_id = new_id()
    actor = Actor(db_id=key_for(tenant, actor_id), actor_id=actor_id, tenant=tenant, owner=owner, **values)
    actor.save(force_insert=True)
    return actor


def get(actor_dbid: str) -> Actor | None:
    return Actor.objects(db_id=actor_dbid).first()


def find(tenant: str, actor_id: str) -> Actor | None:
    """The actor ``actor_id`` of ``tenant``; another tenant's actor is never returned."""
    return Actor.objects(db_id=key_for(tenant, actor_id), tenant=tenant).first()


def list_visible(tenant: str, only: Iterable[str] | None = None) -> list[Actor]:
    """The tenant's actors, oldest first; ``only`` restricts them to these keys."""
    qs = Actor.objects(tenant=tenant)
    if only is not None:
        qs = qs.filter(db_id__in=list(only))
    return list(qs.order_by("create_time"))


def apply_update(actor: Actor, values: dict[str, Any], force: bool) -> bool:
    """Replace the actor's fields (PUT). True when it got a new revision (new image or ``force``):
    its status goes back to SUBMITTED and new workers must replace the old ones."""
    new_revision = force or values.get("image", actor.image) != actor.image
    for name, value in values.items():
        setattr(actor, name, value)
    actor.last_update_time = utcnow()
    if new_revision:
        actor.revision += 1
        actor.status = ActorStatus.SUBMITTED.value
        actor.status_message = ""
    actor.save()
    return new_revision


def set_status(actor_dbid: str, status: ActorStatus, message: str = "") -> bool:
    return bool(Actor.objects(db_id=actor_dbid).update_one(set__status=status.value, set__status_message=message))


def mark_ready(actor_dbid: str, revision: int) -> bool:
    """SUBMITTED -> READY once a worker of the current revision is up (never from ERROR or
    SHUTTING_DOWN, and never for a stale revision)."""
    return bool(
        Actor.objects(db_id=actor_dbid, revision=revision, status=ActorStatus.SUBMITTED.value).update_one(
            set__status=ActorStatus.READY.value, set__status_message=""
        )
    )


def fail(actor_dbid: str, reason: str) -> bool:
    """Put the actor in ERROR with a message that says why (it stops taking messages)."""
    return set_status(actor_dbid, ActorStatus.ERROR, reason)


def claim_worker_slot(actor_dbid: str, slot: str) -> bool:
    """Atomically take the right to request a worker in time slot ``slot`` (one caller wins)."""
    return bool(Actor.objects(db_id=actor_dbid, worker_claim__ne=slot).update_one(set__worker_claim=slot))


def delete(actor_dbid: str) -> None:
    Actor.objects(db_id=actor_dbid).delete()


def accepts_work(actor: Actor) -> bool:
    """False for an actor being deleted or in ERROR: it runs no messages and gets no workers."""
    return actor.status not in (ActorStatus.SHUTTING_DOWN.value, ActorStatus.ERROR.value)
