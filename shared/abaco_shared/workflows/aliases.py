"""Creating, rebinding, deleting and sharing aliases (reference 1.4).

The caller's rights on the actors involved are checked by the route (``lookup.get_actor``); these
functions manage the alias record and the grants on it.
"""

from __future__ import annotations

import logging

from .. import aliases, permissions
from ..auth import Principal
from ..enums import Permission
from ..errors import NotFound, ValidationError
from ..models import Actor, Alias

__all__ = ["create_alias", "rebind_alias", "delete_alias", "share_alias"]

log = logging.getLogger(__name__)


def create_alias(who: Principal, alias: str, actor: Actor) -> Alias:
    """Name ``actor`` ``alias`` in the caller's tenant.

    1. insert the alias (atomic: a name the tenant already has is a 400, and of concurrent
       creations exactly one succeeds);
    2. grant the creator UPDATE on the alias.
    If step 2 fails the alias is removed again and the error propagates.
    """
    record = aliases.create(who.tenant, alias, actor.actor_id, who.user)
    try:
        permissions.grant(who.tenant, record.db_id, who.user, Permission.UPDATE)
    except Exception:
        aliases.delete(record)
        raise
    log.info("alias created", extra={"alias": record.db_id, "actor_id": actor.actor_id})
    return record


def rebind_alias(record: Alias, actor: Actor) -> Alias:
    """Point an alias at another actor of its tenant (the alias's name never changes).

    1. update the alias's ``actor_id``; an alias deleted meanwhile is a 404.
    """
    if not aliases.rebind(record, actor.actor_id):
        raise NotFound(f"No alias found with identifier: {record.alias}.")
    return record


def delete_alias(record: Alias) -> None:
    """Delete an alias and the grants on it (idempotent: a repeated call finds nothing to do)."""
    aliases.delete(record)
    log.info("alias deleted", extra={"alias": record.db_id})


def share_alias(record: Alias, user: str, level: Permission) -> dict[str, str]:
    """Give ``user`` (or ``ABACO_WORLD``) ``level`` on an alias; returns every grant on it. The
    alias's owner always keeps UPDATE (400 otherwise)."""
    if user == record.owner:
        raise ValidationError(f"Invalid user: {user} owns the alias and keeps UPDATE.")
    permissions.grant(record.tenant, record.db_id, user, level)
    return permissions.map_for(record.tenant, record.db_id)
