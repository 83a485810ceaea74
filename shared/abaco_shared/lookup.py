"""Finding the objects a request names, within the caller's tenant and permissions."""

from __future__ import annotations

from .auth import Principal, require
from .enums import Permission
from .errors import NotFound
from .models import Actor, Execution

__all__ = ["get_actor", "get_execution"]


def get_actor(who: Principal, identifier: str, needed: Permission) -> Actor:
    """The actor ``identifier`` in the caller's tenant, if the caller has ``needed`` on it.

    Another tenant's actor is indistinguishable from a missing one (404).
    """
    actor = Actor.objects(tenant=who.tenant, actor_id=identifier).first()
    if actor is None or actor.tenant != who.tenant:
        raise NotFound(f"No actor found with identifier: {identifier}.")
    require(who, actor.db_id, needed)
    return actor


def get_execution(actor: Actor, execution_id: str) -> Execution:
    ex = Execution.objects(db_id=f"{actor.db_id}_{execution_id}").first()
    if ex is None:
        raise NotFound(f"No execution found with identifier: {execution_id}.")
    return ex
