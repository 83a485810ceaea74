"""Creating, updating, deleting and sharing actor configs (reference 1.4).

A config body has ``name``, ``value`` (any JSON), ``is_secret`` (a boolean, required on create)
and ``actors`` (a comma-separated string of actor ids and/or aliases); camelCase ``isSecret`` is
accepted too. Writing a config needs UPDATE on every actor it names (the caller's own rights on
the config are checked by the route, ``lookup.get_config``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .. import configs, permissions
from ..auth import Principal
from ..configs import ConfigCipher
from ..enums import Permission
from ..errors import NotFound, PermissionDenied, ValidationError
from ..lookup import get_actor
from ..models import ActorConfig

__all__ = ["ConfigBody", "parse_config_body", "create_config", "update_config", "delete_config", "share_config"]

log = logging.getLogger(__name__)

_FIELDS = {"name": "name", "value": "value", "is_secret": "is_secret", "isSecret": "is_secret", "actors": "actors"}
_MISSING: Any = object()


@dataclass(frozen=True)
class ConfigBody:
    """A parsed config body; a field left out is None (``value``: ``has_value`` False)."""

    name: str | None
    value: Any
    has_value: bool
    is_secret: bool | None
    items: list[str] | None


def parse_config_body(body: dict[str, Any], create: bool) -> ConfigBody:
    """Check a POST (``create``: every field required) or PUT body (fields left out keep theirs);
    a ValidationError names the field and the rule."""
    fields: dict[str, Any] = {}
    for key, given in body.items():
        if key not in _FIELDS:
            raise ValidationError(f"Unknown field: {key} (a config has name, value, is_secret and actors).")
        fields[_FIELDS[key]] = given
    if create:
        for required in ("name", "value", "is_secret", "actors"):
            if required not in fields:
                raise ValidationError(f"Invalid {required}: the field {required} is required.")
    name = configs.check_name(fields["name"]) if "name" in fields else None
    value = fields.get("value", _MISSING)
    return ConfigBody(
        name=name,
        value=None if value is _MISSING else value,
        has_value=value is not _MISSING,
        is_secret=configs.parse_is_secret(fields["is_secret"]) if "is_secret" in fields else None,
        items=configs.parse_actors(fields["actors"]) if "actors" in fields else None,
    )


def _resolve(who: Principal, items: list[str]) -> list[str]:
    """The actor ids of ``items`` (ids or aliases); the caller needs UPDATE on each."""
    actor_ids = []
    for item in items:
        try:
            actor_ids.append(get_actor(who, item, Permission.UPDATE).actor_id)
        except NotFound:
            raise ValidationError(f"Invalid actors: no actor found with identifier: {item}.") from None
        except PermissionDenied:
            raise PermissionDenied(
                f"Not authorized -- you need UPDATE permission on actor {item} to name it in a config."
            ) from None
    return actor_ids


def create_config(who: Principal, body: ConfigBody, cipher: ConfigCipher | None) -> ActorConfig:
    """Create a config owned by the caller.

    1. resolve every actor it names (UPDATE needed on each: 403; unknown: 400 naming it);
    2. encode the value (a secret is encrypted: without the config key, a 500 naming the setting);
    3. insert it (a name the tenant already has is a 400; of concurrent creations one wins);
    4. grant the caller UPDATE on it.
    If step 4 fails the config is removed again and the error propagates.
    """
    assert body.name is not None and body.is_secret is not None and body.items is not None
    actor_ids = _resolve(who, body.items)
    value = configs.encode_value(body.value, body.is_secret, cipher)
    config = configs.create(who.tenant, body.name, who.user, value, body.is_secret, body.items, actor_ids)
    if config is None:
        raise ValidationError(f"Invalid name: the config {body.name} already exists in this tenant.")
    try:
        permissions.grant(who.tenant, configs.permission_key(who.tenant, config.name), who.user, Permission.UPDATE)
    except Exception:
        configs.delete(config)
        raise
    log.info("config created", extra={"config": config.db_id, "secret": config.is_secret})
    return config


def update_config(who: Principal, config: ActorConfig, body: ConfigBody, cipher: ConfigCipher | None) -> ActorConfig:
    """Replace the fields a PUT gives (the others keep their value; the name never changes).

    1. refuse another ``name`` (400), and turning a secret into a plain value without a new
       ``value`` (400: the secret would be shown);
    2. resolve the actors it will name, given or kept (UPDATE needed on each, as on create);
    3. encode the new value (or re-encode the kept one when ``is_secret`` changes) and save.
    """
    if body.name is not None and body.name != config.name:
        raise ValidationError(f"Invalid name: a config cannot be renamed ({config.name} to {body.name}).")
    is_secret = config.is_secret if body.is_secret is None else body.is_secret
    if config.is_secret and not is_secret and not body.has_value:
        raise ValidationError("Invalid is_secret: give a new value to make a secret config a plain one.")
    items = body.items if body.items is not None else list(config.items)
    actor_ids = _resolve(who, items)
    if body.has_value:
        value = configs.encode_value(body.value, is_secret, cipher)
    elif is_secret != config.is_secret:
        value = configs.encode_value(configs.decode_value(config, cipher), is_secret, cipher)
    else:
        value = config.value
    configs.save(config, value, is_secret, (items, actor_ids))
    log.info("config updated", extra={"config": config.db_id, "secret": config.is_secret})
    return config


def delete_config(config: ActorConfig) -> None:
    """Delete a config and the grants on it (idempotent)."""
    configs.delete(config)
    permissions.revoke_all(config.tenant, configs.permission_key(config.tenant, config.name))
    log.info("config deleted", extra={"config": config.db_id})


def share_config(config: ActorConfig, user: str, level: Permission) -> dict[str, str]:
    """Give ``user`` (or ``ABACO_WORLD``) ``level`` on a config; returns every grant on it. The
    config's owner always keeps UPDATE (400 otherwise)."""
    if user == config.owner:
        raise ValidationError(f"Invalid user: {user} owns the config and keeps UPDATE.")
    key = configs.permission_key(config.tenant, config.name)
    permissions.grant(config.tenant, key, user, level)
    return permissions.map_for(config.tenant, key)
