"""Registering, updating and deleting actors."""

from __future__ import annotations

import logging
from typing import Any

from .. import actors, aliases, blobs, configs, executions, logs, nonces, permissions, results
from ..auth import Principal
from ..broker import Broker
from ..channels import MailboxChannel
from ..enums import ActorStatus, Permission, WorkerCommandName
from ..errors import Conflict, ValidationError
from ..lookup import actor_id_of, get_actor
from ..models import Actor
from .scaling import request_worker, stop_workers

__all__ = ["register_actor", "update_actor", "delete_actor", "share_actor", "check_link"]

MAX_LINK_CHAIN = 100

log = logging.getLogger(__name__)


def register_actor(who: Principal, values: dict[str, Any], broker: Broker) -> Actor:
    """Create an actor owned by the caller and start its first worker.

    1. insert the actor (SUBMITTED, revision 1);
    2. grant the owner UPDATE;
    3. request a worker.
    If a step fails, the actor and its grant are removed again and the error propagates, so a
    client that retries does not leave a twin behind.
    """
    check_link(who, None, values.get("link") or "")
    actor = actors.create(who.tenant, who.user, values)
    try:
        permissions.grant(who.tenant, actor.db_id, who.user, Permission.UPDATE)
        request_worker(actor, broker)
    except Exception:
        permissions.revoke_all(actor.tenant, actor.db_id)
        actors.delete(actor.db_id)
        raise
    log.info("actor registered", extra={"actor_id": actor.db_id, "image": actor.image})
    return actor


def check_link(who: Principal, actor: Actor | None, link: str) -> None:
    """A ``link`` (an actor id or alias) must name an actor the caller may EXECUTE, not the actor
    itself, and must not close a cycle of linked actors (events would loop forever)."""
    if not link:
        return
    target = get_actor(who, link, Permission.EXECUTE)
    if actor is None:
        return  # nothing links to an actor that does not exist yet
    seen = {actor.actor_id}
    current: Actor | None = target
    for _ in range(MAX_LINK_CHAIN):
        if current is None:
            return
        if current.actor_id in seen:
            if current.actor_id == actor.actor_id and current is target:
                raise ValidationError("Invalid link: an actor cannot link to itself.")
            raise ValidationError("Invalid link: it would close a cycle of linked actors.")
        seen.add(current.actor_id)
        if not current.link:
            return
        current = actors.find(who.tenant, actor_id_of(who.tenant, current.link))
    raise ValidationError(f"Invalid link: the chain of linked actors is longer than {MAX_LINK_CHAIN}.")


def update_actor(who: Principal, actor: Actor, values: dict[str, Any], force: bool, broker: Broker) -> Actor:
    """Replace an actor's fields (PUT).

    1. refuse an actor being deleted (409), and to make a stateful actor stateless;
    2. store the new values; a new image or ``force`` gives a new revision (status SUBMITTED);
    3. a caller other than the owner is (re)granted UPDATE;
    4. on a new revision, request a worker that replaces the old ones once it is up.
    If step 4 fails the update stays and the error propagates: old workers hand their next message
    back as stale, and health requests a worker for the waiting message.
    """
    if actor.status == ActorStatus.SHUTTING_DOWN.value:
        raise Conflict(f"Actor {actor.actor_id} is being deleted; it cannot be updated.")
    if actor.stateless is False and values.get("stateless") is True:
        raise ValidationError("Invalid stateless: a stateful actor cannot become stateless.")
    if "link" in values and values["link"] != actor.link:
        check_link(who, actor, values["link"] or "")
    new_revision = actors.apply_update(actor, values, force)
    if who.user != actor.owner:
        permissions.grant(who.tenant, actor.db_id, who.user, Permission.UPDATE)
    if new_revision:
        request_worker(actor, broker, stop_existing=True)
    return actor


def delete_actor(actor: Actor, broker: Broker) -> int:
    """Delete an actor and what belongs to it; returns how many workers were asked to stop.

    1. SHUTTING_DOWN, so that no new worker or message is accepted;
    2. ``stop`` every worker (a running execution is force-quit);
    3. delete its logs, results and mailbox, end its unclaimed executions (records are kept)
       and delete its binary payloads;
    4. revoke its grants and nonces, take it out of configs, delete its aliases (and their grants), and
       delete the actor.
    Every step is idempotent: if one fails, the error propagates and a repeated DELETE finishes.
    """
    actors.set_status(actor.db_id, ActorStatus.SHUTTING_DOWN)
    stopped = stop_workers(actor.db_id, broker, WorkerCommandName.STOP)
    logs.delete_for_actor(actor.db_id)
    results.delete_for_actor(actor.db_id)
    MailboxChannel(broker, actor.db_id).delete()
    executions.end_pending(actor.db_id, "The actor was deleted.")
    blobs.delete_for_actor(actor.db_id)  # its binary messages' payloads (kept for re-sends until now)
    permissions.revoke_all(actor.tenant, actor.db_id)
    nonces.delete_for_object(actor.tenant, actor.db_id)
    configs.forget_actor(actor.tenant, actor.actor_id)  # before its aliases go: they are named too
    aliases.delete_for_actor(actor.tenant, actor.actor_id)  # and the grants on them
    actors.delete(actor.db_id)
    log.info("actor deleted", extra={"actor_id": actor.db_id, "workers_stopped": stopped})
    return stopped


def share_actor(actor: Actor, user: str, level: Permission) -> dict[str, str]:
    """Give ``user`` (or ``ABACO_WORLD``, everyone in the tenant) ``level`` on an actor; returns
    every grant. The owner always keeps UPDATE (400 otherwise)."""
    if user == actor.owner:
        raise ValidationError(f"Invalid user: {user} owns the actor and keeps UPDATE.")
    permissions.grant(actor.tenant, actor.db_id, user, level)
    return permissions.map_for(actor.tenant, actor.db_id)
