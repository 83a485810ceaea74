"""Permission records: one user's level on one object, and the checks built on them.

Objects are named by their key (an actor's ``db_id``; later aliases and configs), which starts
with the tenant: a caller never has any level on another tenant's object.
"""

from __future__ import annotations

from dataclasses import replace

from . import readcache
from .auth import ANONYMOUS, Principal
from .enums import Permission
from .errors import PermissionDenied, ValidationError
from .models import PermissionRecord

__all__ = ["WORLD", "grant", "level_of", "check", "readable_objects", "require", "revoke_all", "map_for", "parse_grant"]

_USER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")

WORLD = "ABACO_WORLD"


def grant(tenant: str, object_id: str, user: str, level: Permission) -> None:
    """Set ``user``'s level on an object (upsert)."""
    PermissionRecord.objects(tenant=tenant, object_id=object_id, user=user).update_one(
        set__level=level.name, upsert=True
    )
    readcache.bump(object_id)


def level_of(principal: Principal, object_id: str, version: readcache.Version | None = None) -> Permission:
    """The caller's effective level on an object: admins have UPDATE on their tenant's objects.
    A caller authorised by a nonce has at most the nonce's level, on the nonce's objects only.
    With the object's ``version`` (``readcache``), a cached level may answer."""
    if principal.scope is not None:
        if object_id not in principal.scope.objects:
            return Permission.NONE
        return min(level_of(replace(principal, scope=None), object_id, version), principal.scope.level)
    if not object_id.startswith(principal.tenant + "_"):
        return Permission.NONE
    if principal.is_admin:
        return Permission.UPDATE
    return stored_level(principal.tenant, object_id, principal.user, version)


def stored_level(tenant: str, object_id: str, user: str, version: readcache.Version | None = None) -> Permission:
    """``user``'s best granted level on an object (their own grant or the world's); with the
    object's ``version``, through this process's read cache."""
    cache = readcache.active()
    if version is None or cache is None:
        return _read_level(tenant, object_id, user)
    level = cache.get(version, ("level", object_id, user), lambda: _read_level(tenant, object_id, user))
    return Permission.NONE if level is None else Permission(level)


def _read_level(tenant: str, object_id: str, user: str) -> Permission:
    best = Permission.NONE
    records = PermissionRecord._get_collection().find(  # a hot read: raw documents, no model objects
        {"tenant": tenant, "object_id": object_id, "user": {"$in": [user, WORLD]}},
        {"level": 1, "_id": 0},
    )
    for rec in records:
        best = max(best, Permission[rec["level"]])
    return best


def readable_objects(principal: Principal) -> set[str]:
    """Keys of the objects the caller may READ (admins: use a tenant filter instead)."""
    if principal.scope is not None:  # a nonce: its own objects at most
        return {key for key in principal.scope.objects if level_of(principal, key) >= Permission.READ}
    return {
        rec.object_id
        for rec in PermissionRecord.objects(tenant=principal.tenant, user__in=[principal.user, WORLD])
        if Permission[rec.level] >= Permission.READ
    }


def require(principal: Principal, object_id: str, needed: Permission) -> Permission:
    return check(level_of(principal, object_id), needed)


def check(level: Permission, needed: Permission) -> Permission:
    """``level`` when it is at least ``needed``, else the 403."""
    if level < needed:
        raise PermissionDenied(f"Not authorized -- you need {needed.name} permission on this object.")
    return level


def revoke_all(tenant: str, object_id: str) -> int:
    """Remove every grant on an object (it is being deleted)."""
    removed = int(PermissionRecord.objects(tenant=tenant, object_id=object_id).delete())
    readcache.bump(object_id)
    return removed


def map_for(tenant: str, object_id: str) -> dict[str, str]:
    """Every grant on an object as ``{user: level name}`` (reference 1.4)."""
    return {
        rec.user: rec.level
        for rec in PermissionRecord.objects(tenant=tenant, object_id=object_id).order_by("user").only("user", "level")
    }


def parse_grant(body: dict[str, object]) -> tuple[str, Permission]:
    """``{user, level}`` of a permissions POST: a user name (or ``ABACO_WORLD``, everyone) and a
    level name (NONE, READ, EXECUTE or UPDATE)."""
    user, level = body.get("user"), body.get("level")
    if not isinstance(user, str) or not user or len(user) > 64 or set(user) - _USER_CHARS:
        raise ValidationError("Invalid user: 1-64 letters, digits, '-', '_', '.' or '@' (or ABACO_WORLD).")
    if user.lower() == ANONYMOUS:  # the no-authentication caller: never a user to grant to
        raise ValidationError(f"Invalid user: {user!r} is not a user name (use ABACO_WORLD for everyone).")
    if not isinstance(level, str):
        raise ValidationError("Invalid level: use NONE, READ, EXECUTE or UPDATE.")
    try:
        return (WORLD if user.upper() == WORLD else user), Permission.parse(level)
    except ValueError as exc:
        raise ValidationError(f"Invalid level: {exc}.") from None
