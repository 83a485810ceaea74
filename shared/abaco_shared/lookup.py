"""Finding the objects a request names, within the caller's tenant and permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import actors, aliases, configs, executions, permissions, readcache
from .auth import Principal
from .enums import Permission
from .errors import NotFound
from .ids import is_id
from .models import Actor, ActorConfig, Alias, Execution

T = TypeVar("T")

__all__ = ["get_actor", "get_actor_shared", "read_actor", "get_alias", "get_config", "get_execution"]


def get_actor(who: Principal, identifier: str, needed: Permission) -> Actor:
    """The actor ``identifier`` in the caller's tenant, if the caller has ``needed`` on it.

    Another tenant's actor, and one the caller may not READ, are indistinguishable from a
    missing one (the same 404, so ids cannot be probed); READ without ``needed`` is a 403.
    ``identifier`` is an actor id or, when it is not one (``ids.is_id``), an alias of the
    caller's tenant; the level checked is the one on the actor.
    The actor and the caller's level come from this process's ``readcache`` when their version
    in Redis has not changed since they were read (one Redis read instead of two MongoDB reads).
    """
    _, _, raw, actor = _find_actor(who, identifier, needed)
    return actor if actor is not None else actors.from_raw(raw)


def read_actor(who: Principal, identifier: str, needed: Permission, render: Callable[[Actor], T]) -> T:
    """``render(get_actor(who, identifier, needed))`` for a caller that only reads: with the read
    cache, what ``render`` returned is kept under the actor's version too, so the actor is not
    even decoded again. ``render`` must depend on the actor alone (not on the caller), be one
    long-lived function (the cache is keyed on it), and its result must not be changed."""
    key, version, raw, actor = _find_actor(who, identifier, needed)
    cache = readcache.active()
    if actor is not None or cache is None or version is None:
        return render(actor if actor is not None else actors.from_raw(raw))
    rendered = cache.get(version, (render, key), lambda: render(actors.from_raw(raw)))
    assert rendered is not None
    return rendered


def get_actor_shared(who: Principal, identifier: str, needed: Permission) -> Actor:
    """``get_actor``'s actor, for a caller that only reads it: with the read cache, one Actor
    object is shared by this process's requests until the actor changes (no decoding per
    request). Never change or save it; ``get_actor`` gives an own copy."""
    return read_actor(who, identifier, needed, _as_is)


def _as_is(actor: Actor) -> Actor:
    return actor


def _find_actor(
    who: Principal, identifier: str, needed: Permission
) -> tuple[str, readcache.Version | None, bytes, Actor | None]:
    """The actor's key, its version, and the actor (BSON bytes with the read cache, else a
    decoded Actor), once the caller's level is checked."""
    actor_id = actor_id_of(who.tenant, identifier)
    key = actors.key_for(who.tenant, actor_id)
    cache = readcache.active()
    version = cache.version(key) if cache is not None and actor_id else None
    raw: bytes | None = None
    actor: Actor | None = None
    if cache is not None and version is not None:
        raw = cache.get(version, ("actor", key), lambda: actors.find_raw(who.tenant, actor_id))
    else:
        actor = actors.find(who.tenant, actor_id)
    found = raw is not None or actor is not None
    _check(who, key if found else None, needed, f"No actor found with identifier: {identifier}.", version)
    return key, version, raw or b"", actor


def _check(
    who: Principal, key: str | None, needed: Permission, missing: str, version: readcache.Version | None = None
) -> None:
    """One permission read: below READ (or no object) is the 404 ``missing``, below ``needed`` a 403."""
    level = permissions.level_of(who, key, version) if key is not None else Permission.NONE
    if level < Permission.READ:
        raise NotFound(missing)
    permissions.check(level, needed)


def actor_id_of(tenant: str, identifier: str) -> str:
    """The actor id that ``identifier`` names: itself when it is an id, else its alias's target."""
    if is_id(identifier):
        return identifier
    record = aliases.get(tenant, identifier)
    return record.actor_id if record is not None else ""


def get_alias(who: Principal, alias: str, needed: Permission) -> Alias:
    """The alias ``alias`` of the caller's tenant, if the caller has ``needed`` on the alias itself
    (the same 404 as a missing alias without READ; READ without ``needed`` is a 403)."""
    record = aliases.get(who.tenant, alias)
    _check(who, record.db_id if record is not None else None, needed, f"No alias found with identifier: {alias}.")
    assert record is not None
    return record


def get_config(who: Principal, name: str, needed: Permission) -> ActorConfig:
    """The config ``name`` of the caller's tenant, if the caller has ``needed`` on the config
    (the same 404 as a missing config without READ; READ without ``needed`` is a 403)."""
    record = configs.get(who.tenant, name)
    key = configs.permission_key(who.tenant, name)
    _check(who, key if record is not None else None, needed, f"No config found with name: {name}.")
    assert record is not None
    return record


def get_execution(actor: Actor, execution_id: str) -> Execution:
    ex = executions.get(actor.db_id, execution_id)
    if ex is None:
        raise NotFound(f"No execution found with identifier: {execution_id}.")
    return ex
