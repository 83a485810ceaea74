"""Loading the one Config: dataclass defaults < TOML file (path in ``ABACO_CONFIG``) <
environment variables ``ABACO__<SECTION>__<KEY>``; every value parsed into its declared type, then
checked (``validation``) and the paths and secrets derived from the install's home and data dir."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .sections import AuthConfig, Config, TenantKey
from .validation import validate

__all__ = ["load_config", "resolve_types", "ENV_PREFIX"]

ENV_PREFIX = "ABACO__"
_T = typing.TypeVar("_T")


def _parse(value: object, typ: object, where: str) -> object:
    """Coerce a file or environment value into the declared field type."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif typ is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(typ) is tuple:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    raise ConfigError(f"config {where}: expected {getattr(typ, '__name__', typ)}, got {value!r}")


@functools.cache
def _section_types(section_cls: type) -> dict[str, object]:
    """A section's field types (resolved once per process: each resolution compiles every
    annotation, a few ms for the whole Config)."""
    return typing.get_type_hints(section_cls)


def resolve_types() -> None:
    """Resolve every section's field types now (a worker parent does, before it forks)."""
    for section_cls in _section_types(Config).values():
        _section_types(typing.cast(type, section_cls))


def _read_secret(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _with_password(section: _T, data_dir: str, name: str) -> _T:
    """Fill a section's ``password_file`` default and, when no password is set, read it from there."""
    path = section.password_file or os.path.join(data_dir, "secrets", f"{name}_password")  # type: ignore[attr-defined]
    password = section.password or _read_secret(path)  # type: ignore[attr-defined]
    return dataclasses.replace(section, password_file=path, password=password)  # type: ignore[type-var]


def _environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def load_config(path: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the Config from defaults, an optional TOML file and ``ABACO__*`` variables."""
    env = _environment(env)
    path = path or env.get("ABACO_CONFIG") or None
    raw: dict[str, dict[str, object]] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                loaded = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        for section, values in loaded.items():
            if not isinstance(values, dict):
                raise ConfigError(f"config file {path}: [{section}] must be a table")
            raw.setdefault(section, {}).update(values)
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2:
            raise ConfigError(f"environment variable {key}: expected ABACO__<SECTION>__<KEY>")
        raw.setdefault(parts[0], {})[parts[1]] = value

    sections = {f.name: f for f in dataclasses.fields(Config)}
    top_types = _section_types(Config)
    built: dict[str, object] = {}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(f"unknown config section [{name}]; known: {', '.join(sorted(sections))}")
        section_cls = typing.cast(type, top_types[name])
        types = _section_types(section_cls)
        kwargs = {}
        for field_name, given in values.items():
            if field_name not in types:
                known = ", ".join(sorted(types))
                raise ConfigError(f"unknown config key {name}.{field_name}; known: {known}")
            kwargs[field_name] = _parse(given, types[field_name], f"{name}.{field_name}")
        built[name] = section_cls(**kwargs)
    cfg = Config(**built)  # type: ignore[arg-type]
    return _derive_paths(cfg, env)


def _derive_paths(cfg: Config, env: Mapping[str, str]) -> Config:
    home = cfg.general.home or env.get("ABACO_HOME") or os.getcwd()
    data_dir = cfg.general.data_dir or os.path.join(home, ".data")
    install_id = cfg.general.install_id or hashlib.sha256(data_dir.encode()).hexdigest()[:12]
    general = dataclasses.replace(cfg.general, home=home, data_dir=data_dir, install_id=install_id)
    general = dataclasses.replace(
        general, config_key_file=general.config_key_file or os.path.join(data_dir, "secrets", "config_key")
    )
    validate(cfg)
    auth = _derive_auth(cfg.auth, home, data_dir)
    events = dataclasses.replace(
        cfg.events, webhook_key_file=cfg.events.webhook_key_file or os.path.join(data_dir, "secrets", "webhook_key")
    )
    spawner = dataclasses.replace(
        cfg.spawner,
        registry_auth_file=cfg.spawner.registry_auth_file or os.path.join(data_dir, "secrets", "registries.json"),
        queues=cfg.spawner.queues or cfg.spawner.host_queues,
    )
    return dataclasses.replace(
        cfg,
        general=general,
        auth=auth,
        events=events,
        spawner=spawner,
        mongo=_with_password(cfg.mongo, data_dir, "mongo"),
        redis=_with_password(cfg.redis, data_dir, "redis"),
        rabbit=_with_password(cfg.rabbit, data_dir, "rabbit"),
    )


def _derive_auth(auth: AuthConfig, home: str, data_dir: str) -> AuthConfig:
    """Key file defaults under the data dir; tenant key paths made absolute (relative to home)."""
    keys = tuple(
        str(TenantKey(k.tenant, k.alg, os.path.join(home, os.path.expanduser(k.path)))) for k in auth.tenant_key_list()
    )
    return dataclasses.replace(
        auth,
        jwt_secret_file=auth.jwt_secret_file or os.path.join(data_dir, "jwt_secret"),
        v2_public_key_file=auth.v2_public_key_file or os.path.join(data_dir, "v2_keys", "public.pem"),
        tenant_keys=keys,
    )
