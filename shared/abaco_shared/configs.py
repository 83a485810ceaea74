"""Actor config records (reference 1.4): named JSON values injected into the containers of the
actors they name (``_actor_configs``, reference section 2). The only module that queries configs.

A config's key is ``<tenant>_<name>``; its grants are permission records on ``<tenant>_config:<name>``
(``:`` is in no alias, actor id or config name, so no other object shares that key, and the tenant
prefix keeps ``permissions.level_of``'s tenant check). The value is kept as JSON text, so any JSON
value round-trips (null, numbers, keys MongoDB would refuse); a secret's JSON text is
Fernet-encrypted with the install's key (``general.config_key_file``) and only the worker decrypts it.
The actors a config names are kept as given (ids and aliases, shown as the original's
comma-separated string) and as the actor ids they resolved to when the config was written (the
writer had UPDATE on each): containers get the configs that name their actor's id there, so an
alias rebound later, or a new alias of a deleted one's name, never carries a config to an actor
its writer could not update.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bson
from cryptography.fernet import Fernet, InvalidToken
from mongoengine.errors import NotUniqueError

from . import aliases, ids, readcache
from .errors import ConfigError, ValidationError
from .models import ActorConfig, utcnow

__all__ = [
    "ConfigCipher",
    "version_key",
    "RESERVED",
    "MAX_ACTORS",
    "MAX_VALUE_BYTES",
    "key_for",
    "permission_key",
    "check_name",
    "parse_actors",
    "parse_is_secret",
    "encode_value",
    "decode_value",
    "create",
    "get",
    "list_for",
    "count_for",
    "save",
    "delete",
    "for_actor",
    "for_actor_cached",
    "injected_values",
    "forget_actor",
]

# reference 1.4: "reserved names as for aliases plus utilization"
RESERVED = aliases.RESERVED_WORDS | {"utilization"}
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_ACTORS = 100  # ids and aliases one config may name
MAX_VALUE_BYTES = 16_384  # a value's JSON text; every config of an actor shares one env variable


class ConfigCipher:
    """Fernet encryption of secret config values, with the install's key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise ConfigError(f"the config key is not a Fernet key: {exc}") from None

    @classmethod
    def from_file(cls, path: str) -> ConfigCipher | None:
        """The cipher of the key in ``path`` (``scripts/install.sh`` makes it), or None without one."""
        try:
            key = Path(path).read_bytes().strip()
        except OSError:
            return None
        return cls(key) if key else None

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigError("a secret config cannot be decrypted with this install's config key") from None


def key_for(tenant: str, name: str) -> str:
    return f"{tenant}_{name}"


def permission_key(tenant: str, name: str) -> str:
    """The object key of a config's grants (see the module's docstring)."""
    return f"{tenant}_config:{name}"


def check_name(name: object) -> str:
    """A config name: 1-64 letters, digits, ``_``, ``-`` or ``.``, not only dots, not a reserved
    word, and never an id."""
    if not isinstance(name, str) or not name:
        raise ValidationError("Invalid name: a config name is required (a string).")
    if not _NAME.fullmatch(name) or set(name) == {"."}:
        raise ValidationError(f"Invalid name: {name!r} must be 1-64 letters, digits, '_', '-' or '.' (not only dots).")
    if name.lower() in RESERVED:
        raise ValidationError(f"Invalid name: {name!r} is a reserved word ({', '.join(sorted(RESERVED))}).")
    if ids.is_id(name):
        raise ValidationError(f"Invalid name: {name!r} looks like an actor id.")
    return name


def parse_actors(value: object) -> list[str]:
    """The ``actors`` field: the original's comma-separated string of actor ids and/or aliases
    (a JSON list of strings is accepted too); whole items, stripped, without repeats."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        raw_items = [item for v in value for item in v.split(",")]
    elif isinstance(value, str):
        raw_items = value.split(",")
    else:
        raise ValidationError("Invalid actors: expected a comma-separated string of actor ids or aliases.")
    items = list(dict.fromkeys(item.strip() for item in raw_items if item.strip()))
    if not items:
        raise ValidationError("Invalid actors: name at least one actor id or alias.")
    if len(items) > MAX_ACTORS:
        raise ValidationError(f"Invalid actors: at most {MAX_ACTORS} actor ids or aliases.")
    for item in items:
        if len(item) > 64 or not item.isprintable():
            raise ValidationError(f"Invalid actors: {item[:64]!r} is not an actor id or alias.")
    return items


def parse_is_secret(value: object) -> bool:
    """``is_secret``: a boolean, or true/false/1/0 as text (form bodies)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValidationError("Invalid is_secret: a boolean (true or false) is required.")


def encode_value(value: Any, is_secret: bool, cipher: ConfigCipher | None) -> str:
    """What is stored for a value: its JSON text, encrypted for a secret."""
    try:
        text = json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValidationError("Invalid value: numbers must be finite.") from None
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise ValidationError(f"Invalid value: its JSON is over {MAX_VALUE_BYTES} bytes.")
    if not is_secret:
        return text
    if cipher is None:
        raise ConfigError("secret configs need the config key (general.config_key_file; run scripts/install.sh)")
    return cipher.encrypt(text)


def decode_value(config: ActorConfig, cipher: ConfigCipher | None) -> Any:
    """A config's value in clear (a secret needs the cipher)."""
    if not config.is_secret:
        return json.loads(config.value)
    if cipher is None:
        raise ConfigError(f"config {config.name} is secret and this process has no config key")
    return json.loads(cipher.decrypt(config.value))


def create(
    tenant: str, name: str, owner: str, value: str, is_secret: bool, items: list[str], actor_ids: list[str]
) -> ActorConfig | None:
    """Insert a config (``value`` as :func:`encode_value` made it, ``items`` as given and the
    ``actor_ids`` they resolved to); None when the tenant already has the name."""
    config = ActorConfig(
        db_id=key_for(tenant, name),
        tenant=tenant,
        name=name,
        owner=owner,
        value=value,
        is_secret=is_secret,
        items=items,
        actor_ids=sorted(set(actor_ids)),
    )
    try:
        config.save(force_insert=True)
    except NotUniqueError:
        return None
    _written(tenant)
    return config


def get(tenant: str, name: str) -> ActorConfig | None:
    return ActorConfig.objects(db_id=key_for(tenant, name), tenant=tenant).first()


def list_for(tenant: str, only: Iterable[str] | None, limit: int, skip: int) -> list[ActorConfig]:
    """The tenant's configs, newest first; ``only`` restricts them to these names."""
    qs = ActorConfig.objects(tenant=tenant)
    if only is not None:
        qs = qs.filter(name__in=list(only))
    return list(qs.order_by("-create_time", "-db_id").skip(skip).limit(limit)) if limit else []


def count_for(tenant: str, only: Iterable[str] | None = None) -> int:
    qs = ActorConfig.objects(tenant=tenant)
    if only is not None:
        qs = qs.filter(name__in=list(only))
    return int(qs.count())


def save(config: ActorConfig, value: str, is_secret: bool, resolved: tuple[list[str], list[str]] | None) -> ActorConfig:
    """Replace a config's value and secrecy, and its actors when ``resolved`` (items, actor ids)
    is given."""
    config.value, config.is_secret = value, is_secret
    if resolved is not None:
        config.items, config.actor_ids = resolved[0], sorted(set(resolved[1]))
    config.last_update_time = utcnow()
    config.save()
    _written(config.tenant)
    return config


def delete(config: ActorConfig) -> None:
    ActorConfig.objects(db_id=config.db_id).delete()
    _written(config.tenant)


def version_key(tenant: str) -> str:
    """The ``readcache`` version of every config of ``tenant`` (one write bumps it)."""
    return f"configs:{tenant}"


def _written(tenant: str) -> None:
    """After a write to a tenant's configs: every process's cached ``for_actor_cached`` is stale."""
    readcache.bump(version_key(tenant))


def for_actor(tenant: str, actor_id: str) -> list[ActorConfig]:
    """The configs that name an actor (by its id or an alias of it when they were written), by
    name: one indexed query, an empty index lookup for a tenant without configs."""
    return list(ActorConfig.objects(tenant=tenant, actor_ids=actor_id).order_by("name"))


def for_actor_cached(tenant: str, actor_id: str) -> list[ActorConfig]:
    """``for_actor`` through this process's ``readcache`` (read for every execution; as exact:
    every write to the tenant's configs bumps one version)."""
    cache = readcache.active()
    if cache is None:
        return for_actor(tenant, actor_id)
    raws = cache.get(
        cache.version(version_key(tenant)),
        ("configs", tenant, actor_id),
        lambda: tuple(bson.encode(c.to_mongo().to_dict()) for c in for_actor(tenant, actor_id)),
    )
    return [ActorConfig._from_son(bson.decode(raw)) for raw in raws or ()]


def injected_values(configs: Iterable[ActorConfig], cipher: ConfigCipher | None) -> dict[str, Any]:
    """``{config name: value}`` with secrets decrypted: what ``_actor_configs`` holds."""
    return {c.name: decode_value(c, cipher) for c in configs}


def forget_actor(tenant: str, actor_id: str) -> int:
    """Take a deleted actor out of every config that names it (its id, and its aliases, which go
    with it; the configs themselves are kept); returns how many configs changed."""
    names = [actor_id, *(a.alias for a in aliases.for_actor(tenant, actor_id))]
    changed = ActorConfig.objects(tenant=tenant, actor_ids=actor_id).update(pull__actor_ids=actor_id)
    ActorConfig.objects(tenant=tenant, items__in=names).update(pull_all__items=names)
    _written(tenant)
    return int(changed)
