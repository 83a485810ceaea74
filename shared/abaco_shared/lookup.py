"""Finding the objects a request names, within the caller's tenant and permissions."""

from __future__ import annotations

from . import actors, executions, permissions
from .auth import Principal
from .enums import Permission
from .errors import NotFound
from .models import Actor, Execution

__all__ = ["get_actor", "get_execution"]


def get_actor(who: Principal, identifier: str, needed: Permission) -> Actor:
    """The actor ``identifier`` in the caller's tenant, if the caller has ``needed`` on it.

    Another tenant's actor is indistinguishable from a missing one (404).
    """
    actor = actors.find(who.tenant, identifier)
    if actor is None:
        raise NotFound(f"No actor found with identifier: {identifier}.")
    permissions.require(who, actor.db_id, needed)
    return actor


def get_execution(actor: Actor, execution_id: str) -> Execution:
    ex = executions.get(actor.db_id, execution_id)
    if ex is None:
        raise NotFound(f"No execution found with identifier: {execution_id}.")
    return ex
