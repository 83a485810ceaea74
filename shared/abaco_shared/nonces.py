"""Nonce records (reference 1.4 and 4): one-off or limited credentials for one actor or alias.
The only module that queries nonces or builds their keys.

A nonce's id is ``<tenant>_<hashid>`` (the tenant of a request made with it comes from there) and
is its record's key. It is stored for an object key: an actor's key ``<tenant>_<actor id>`` or an
alias's key ``<tenant>_<alias>``. A request with ``?x-nonce=<id>`` and no other credential is
authorised (``authorize``) as the nonce's owner, with the roles the owner had when it was made,
at most at the nonce's level and on its object only (``auth.NonceScope``, which
``permissions.level_of`` honours). Each authorised request redeems one use, atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import actors, aliases, permissions
from .auth import NonceScope, Principal
from .enums import Permission, Role
from .errors import AuthenticationError, PermissionDenied, ValidationError
from .ids import is_id, new_id
from .models import Nonce, utcnow

__all__ = [
    "ACTOR",
    "ALIAS",
    "NonceRequest",
    "key_for",
    "tenant_of",
    "parse_request",
    "create",
    "get",
    "find",
    "list_for",
    "count_for",
    "delete",
    "delete_for_object",
    "redeem",
    "required_level",
    "target_key",
    "authorize",
]

ACTOR = "actor"
ALIAS = "alias"
MAX_DESCRIPTION = 4096
# the words after /actors/ that are collections, never an actor (a nonce never works on them)
COLLECTIONS = frozenset({"aliases", "configs", "search", "admin", "utilization", "docs"})
_FIELDS = {"level", "max_uses", "maxUses", "description"}


@dataclass(frozen=True)
class NonceRequest:
    """The validated body of a nonce POST."""

    level: Permission = Permission.EXECUTE
    max_uses: int = -1
    description: str = ""


def key_for(tenant: str, hashid: str) -> str:
    return f"{tenant}_{hashid}"


def tenant_of(nonce_id: str) -> str | None:
    """The tenant of a well-formed nonce id ``<tenant>_<hashid>``, else None."""
    tenant, sep, hashid = nonce_id.partition("_")
    if not sep or not tenant or len(tenant) > 64 or not is_id(hashid):
        return None
    if any(not (c.isascii() and (c.isalnum() or c in "-.")) for c in tenant):
        return None
    return tenant.lower()


def parse_request(body: dict[str, Any], kind: str) -> NonceRequest:
    """``{level, max_uses, description}`` of a nonce POST (all optional), or a 400 naming the field.

    ``level`` is NONE, READ, EXECUTE (default) or UPDATE, and never UPDATE for an alias nonce;
    ``max_uses`` is -1 (unlimited, the default) or a positive integer.
    """
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValidationError(f"Unknown field: {unknown[0]} (a nonce takes level, max_uses and description).")
    level = Permission.EXECUTE
    if body.get("level") is not None:
        if not isinstance(body["level"], str):
            raise ValidationError("Invalid level: use NONE, READ, EXECUTE or UPDATE.")
        try:
            level = Permission.parse(body["level"])
        except ValueError as exc:
            raise ValidationError(f"Invalid level: {exc}.") from None
    if kind == ALIAS and level is Permission.UPDATE:
        raise ValidationError("Invalid level: an alias nonce may only have level NONE, READ or EXECUTE.")
    raw = body.get("max_uses", body.get("maxUses"))
    max_uses = -1
    if raw is not None:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValidationError("Invalid max_uses: expected an integer (-1 for unlimited, or at least 1).")
        try:
            max_uses = int(raw)
        except ValueError:
            raise ValidationError("Invalid max_uses: expected an integer (-1 for unlimited, or at least 1).") from None
        if max_uses == 0 or max_uses < -1 or max_uses > 2**31 - 1:
            raise ValidationError("Invalid max_uses: use -1 for unlimited, or an integer from 1 to 2147483647.")
    description = body.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ValidationError("Invalid description: expected a string.")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(f"Invalid description: at most {MAX_DESCRIPTION} characters.")
    return NonceRequest(level, max_uses, description)


def create(who: Principal, kind: str, name: str, object_key: str, request: NonceRequest) -> Nonce:
    """A new nonce for an object (an actor key or an alias key), owned by the caller, with the
    caller's roles."""
    record = Nonce(
        db_id=key_for(who.tenant, new_id()),
        tenant=who.tenant,
        object_key=object_key,
        kind=kind,
        name=name,
        owner=who.user,
        roles=sorted(r.value for r in who.roles),
        level=request.level.name,
        max_uses=request.max_uses,
        remaining_uses=request.max_uses,
        current_uses=0,
        description=request.description,
    )
    record.save(force_insert=True)
    return record


def _levels_up_to(level: Permission) -> list[str]:
    return [p.name for p in Permission if p <= level]


def get(tenant: str, object_key: str, nonce_id: str, up_to: Permission = Permission.UPDATE) -> Nonce | None:
    """The nonce ``nonce_id`` if it belongs to this object of this tenant and its level is at
    most ``up_to`` (a nonce's id is a credential: a caller sees none above its own level)."""
    if not isinstance(nonce_id, str) or not nonce_id:
        return None
    return Nonce.objects(db_id=nonce_id, tenant=tenant, object_key=object_key, level__in=_levels_up_to(up_to)).first()


def find(nonce_id: str) -> Nonce | None:
    """The nonce with this id, whatever it is for (authentication by nonce)."""
    tenant = tenant_of(nonce_id)
    if tenant is None:
        return None
    return Nonce.objects(db_id=nonce_id, tenant=tenant).first()


def list_for(tenant: str, object_key: str, limit: int, skip: int, up_to: Permission = Permission.UPDATE) -> list[Nonce]:
    """A page of an object's nonces of a level at most ``up_to``, newest first."""
    if not limit:
        return []
    qs = Nonce.objects(tenant=tenant, object_key=object_key, level__in=_levels_up_to(up_to))
    return list(qs.order_by("-create_time", "-db_id").skip(skip).limit(limit))


def count_for(tenant: str, object_key: str, up_to: Permission = Permission.UPDATE) -> int:
    return int(Nonce.objects(tenant=tenant, object_key=object_key, level__in=_levels_up_to(up_to)).count())


def delete(record: Nonce) -> bool:
    """Delete one nonce; False when it was already gone."""
    return bool(Nonce.objects(db_id=record.db_id).delete())


def delete_for_object(tenant: str, object_key: str) -> int:
    """Delete every nonce of an actor or alias (it is being deleted); returns how many."""
    return int(Nonce.objects(tenant=tenant, object_key=object_key).delete())


def redeem(record: Nonce) -> bool:
    """Use the nonce once: one conditional update that needs a remaining use (or an unlimited
    nonce), adds one to ``current_uses``, takes one from ``remaining_uses`` unless unlimited, and
    sets ``last_use_time``. False when it has no use left (or is gone): of concurrent requests on
    a nonce with n uses left, exactly n succeed."""
    now = utcnow()
    if record.max_uses == -1:
        updated = Nonce.objects(db_id=record.db_id, remaining_uses=-1).update_one(
            inc__current_uses=1, set__last_use_time=now
        )
    else:
        updated = Nonce.objects(db_id=record.db_id, remaining_uses__gt=0).update_one(
            inc__current_uses=1, dec__remaining_uses=1, set__last_use_time=now
        )
    return bool(updated)


def required_level(method: str, path: str) -> Permission:
    """The level a request needs (reference 1.4): GET reads, POST of a message (or the re-send
    of a dead letter) executes, everything else updates."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return Permission.READ
    parts = path.rstrip("/").split("/")
    if method == "POST" and (parts[-1] == "messages" or parts[-2:-1] == ["dead_letters"]):
        return Permission.EXECUTE
    return Permission.UPDATE


def target_key(tenant: str, path: str) -> str | None:
    """The key of the object a (canonical) path names: ``/actors/<id or alias>/...`` names an
    actor (or an alias, by its key), ``/actors/aliases/<alias>/...`` an alias; collections, lists
    and search name none (a nonce is refused there), and neither do an object's nonces routes: a
    nonce that could list, make or delete nonces would outlive its own uses."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "actors" or not parts[1]:
        return None
    if parts[1] == "aliases":
        if len(parts) >= 4 and parts[3] == "nonces":
            return None
        return key_for(tenant, parts[2]) if len(parts) >= 3 and parts[2] else None
    if len(parts) >= 3 and parts[2] == "nonces":
        return None
    if parts[1] in COLLECTIONS:
        return None
    return key_for(tenant, parts[1])


def authorize(nonce_id: str, method: str, path: str) -> Principal:
    """The caller of a request made with ``?x-nonce=<nonce_id>`` and no other credential.

    1. find the nonce (401 when unknown);
    2. the path must name the nonce's own actor or alias (403 otherwise, as for a missing
       permission; 401 on collections and search, where nonces are not accepted);
    3. the owner, limited to the nonce's level, must have the level the request needs (403);
    4. redeem one use (401 when none is left).
    The principal is the owner with the nonce's roles, scoped to the nonce's object (and, for an
    alias nonce, the actor the alias names) at the nonce's level. Nothing is redeemed when a
    check fails.
    """
    record = find(nonce_id)
    if record is None:
        raise AuthenticationError("Invalid nonce: no nonce found with this id.")
    key = target_key(record.tenant, path)
    if key is None:
        raise AuthenticationError("Nonces are not accepted on this endpoint: send a token.")
    if key != record.object_key:
        raise PermissionDenied("Not authorized -- the nonce is not valid for this actor or alias.")
    roles = frozenset(Role(r) for r in record.roles if r in Role._value2member_map_)
    if not roles:
        raise PermissionDenied("Not authorized -- missing required role.")
    objects = {record.object_key}
    if record.kind == ALIAS:
        alias = aliases.get(record.tenant, record.name)
        if alias is not None:
            objects.add(actors.key_for(record.tenant, alias.actor_id))
    scope = NonceScope(record.db_id, frozenset(objects), Permission[record.level])
    who = Principal(record.owner, record.tenant, roles, scope)
    needed = required_level(method, path)
    if permissions.level_of(who, record.object_key) < needed:
        raise PermissionDenied(
            f"Not authorized -- the nonce allows {scope.level.name} on this object; this request needs {needed.name}."
        )
    if not redeem(record):
        raise AuthenticationError("Invalid nonce: it has no remaining uses (max_uses reached).")
    return who
