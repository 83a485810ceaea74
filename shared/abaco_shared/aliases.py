"""Alias records: tenant-wide names for actors (reference 1.4). The only module that queries aliases.

An alias's key is ``<tenant>_<alias>`` and is the record's primary key, so creating one is an
atomic insert-if-absent: of many concurrent creations of the same alias in a tenant exactly one
succeeds. An alias never looks like an id (``ids.is_id``), which is how ``lookup.get_actor`` tells
the two apart in a path. The grants on an alias (``permissions``) and its nonces (``nonces``) are
kept under its key, and deleted with it.
"""

from __future__ import annotations

from mongoengine.errors import NotUniqueError

from . import nonces, permissions
from .errors import ValidationError
from .ids import is_id
from .models import Alias

__all__ = [
    "MAX_LENGTH",
    "RESERVED_WORDS",
    "FORBIDDEN_CHARACTERS",
    "key_for",
    "validate",
    "create",
    "get",
    "for_actor",
    "list_for_tenant",
    "count_for_tenant",
    "rebind",
    "delete",
    "delete_for_actor",
]

MAX_LENGTH = 64

# the reference's words, plus every word our routes use right after /actors/ (compared without case)
RESERVED_WORDS = frozenset(
    {
        "executions",
        "nonces",
        "logs",
        "messages",
        "adapters",
        "admin",
        "aliases",
        "configs",
        "search",
        "utilization",
        "permissions",
        "state",
        "workers",
        "v2",
        "v3",
        "docs",
    }
)

# the reference's list, and '%' (a path is percent-decoded before it is routed)
FORBIDDEN_CHARACTERS = "\\ \":/?#[]@!$&'()*+,;=%"


def key_for(tenant: str, alias: str) -> str:
    return f"{tenant}_{alias}"


def validate(alias: object) -> str:
    """The alias name if it is valid, else a ValidationError that names the rule it breaks."""
    if not isinstance(alias, str) or not alias:
        raise ValidationError("Invalid alias: the field 'alias' is required (a non-empty string).")
    if len(alias) > MAX_LENGTH:
        raise ValidationError(f"Invalid alias: at most {MAX_LENGTH} characters.")
    bad = sorted({c for c in alias if c in FORBIDDEN_CHARACTERS})
    if bad:
        shown = " ".join("space" if c == " " else c for c in bad)
        raise ValidationError(
            f"Invalid alias: it contains forbidden characters ({shown}); these are not allowed: "
            "\\ space \" : / ? # [ ] @ ! $ & ' ( ) * + , ; = %."
        )
    if any(not 0x21 <= ord(c) <= 0x7E for c in alias):
        raise ValidationError("Invalid alias: only printable ASCII characters are allowed (no spaces or controls).")
    if alias.lower() in RESERVED_WORDS:
        raise ValidationError(
            f"Invalid alias: {alias!r} is a reserved word (reserved: {', '.join(sorted(RESERVED_WORDS))})."
        )
    if set(alias) == {"."}:
        raise ValidationError("Invalid alias: it cannot be made of dots only.")
    if is_id(alias):
        raise ValidationError("Invalid alias: it has the form of an actor id; choose a name that does not.")
    return alias


def create(tenant: str, alias: str, actor_id: str, owner: str) -> Alias:
    """Insert a new alias for ``actor_id`` (validated here); a 400 when the tenant already has it.

    The insert is atomic on the key: under concurrent creations of one alias, exactly one wins.
    """
    validate(alias)
    record = Alias(db_id=key_for(tenant, alias), alias=alias, actor_id=actor_id, tenant=tenant, owner=owner)
    try:
        record.save(force_insert=True)
    except NotUniqueError:
        raise ValidationError(f"Invalid alias: the alias {alias} already exists in this tenant.") from None
    return record


def get(tenant: str, alias: str) -> Alias | None:
    """The alias ``alias`` of ``tenant``; another tenant's alias is never returned."""
    if not isinstance(alias, str) or not alias:
        return None
    return Alias.objects(db_id=key_for(tenant, alias), tenant=tenant).first()


def for_actor(tenant: str, actor_id: str) -> list[Alias]:
    """Every alias of ``tenant`` that names the actor ``actor_id``, oldest first."""
    return list(Alias.objects(tenant=tenant, actor_id=actor_id).order_by("create_time", "db_id"))


def list_for_tenant(tenant: str, limit: int, skip: int, only: set[str] | None = None) -> list[Alias]:
    """A page of the tenant's aliases, newest first; ``only`` restricts them to these keys."""
    qs = Alias.objects(tenant=tenant)
    if only is not None:
        qs = qs.filter(db_id__in=list(only))
    return list(qs.order_by("-create_time", "-db_id").skip(skip).limit(limit)) if limit else []


def count_for_tenant(tenant: str, only: set[str] | None = None) -> int:
    qs = Alias.objects(tenant=tenant)
    if only is not None:
        qs = qs.filter(db_id__in=list(only))
    return int(qs.count())


def rebind(record: Alias, actor_id: str) -> bool:
    """Point an alias at another actor; False when the alias is gone."""
    if not Alias.objects(db_id=record.db_id).update_one(set__actor_id=actor_id):
        return False
    record.actor_id = actor_id
    return True


def delete(record: Alias) -> bool:
    """Delete an alias, every grant on it and its nonces; False when it was already gone."""
    permissions.revoke_all(record.tenant, record.db_id)
    nonces.delete_for_object(record.tenant, record.db_id)
    return bool(Alias.objects(db_id=record.db_id).delete())


def delete_for_actor(tenant: str, actor_id: str) -> int:
    """Delete every alias of the actor ``actor_id`` (it is being deleted); returns how many."""
    return sum(delete(record) for record in for_actor(tenant, actor_id))
