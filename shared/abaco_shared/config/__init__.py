"""One typed configuration object, loaded once per process.

Precedence: dataclass defaults < TOML file (path in ``ABACO_CONFIG``) < environment variables of
the form ``ABACO__<SECTION>__<KEY>``. Every value is parsed into its declared type; an unknown
section or key, or a value of the wrong type, fails at start-up with one readable error.
The embedded defaults run the whole platform on one machine with no file at all.

The package: ``sections`` (the typed object and its defaults), ``loader`` (file and environment
into it), ``validation`` (the checks it must pass).
"""

from __future__ import annotations

from ..errors import ConfigError
from .loader import ENV_PREFIX, load_config, resolve_types
from .sections import (
    MAX_BINARY_LENGTH,
    MAX_IDEMPOTENCY_WINDOW,
    MAX_LEEWAY,
    MAX_SOCKET_DIR,
    MAX_SYNC_WAITS,
    TOKEN_ALGORITHMS,
    AuthConfig,
    Config,
    EventsConfig,
    GeneralConfig,
    HealthConfig,
    HostConfig,
    HttpConfig,
    LogConfig,
    MetricsConfig,
    MongoConfig,
    RabbitConfig,
    RedisConfig,
    SpawnerConfig,
    TenantKey,
    WorkerConfig,
    parse_tenant_key,
    with_credentials,
)

__all__ = [
    "Config",
    "ConfigError",
    "GeneralConfig",
    "HttpConfig",
    "MongoConfig",
    "RedisConfig",
    "RabbitConfig",
    "AuthConfig",
    "TenantKey",
    "parse_tenant_key",
    "HostConfig",
    "SpawnerConfig",
    "WorkerConfig",
    "HealthConfig",
    "EventsConfig",
    "LogConfig",
    "MetricsConfig",
    "load_config",
    "resolve_types",
    "with_credentials",
    "ENV_PREFIX",
    "MAX_BINARY_LENGTH",
    "MAX_IDEMPOTENCY_WINDOW",
    "MAX_LEEWAY",
    "MAX_SOCKET_DIR",
    "MAX_SYNC_WAITS",
    "TOKEN_ALGORITHMS",
]
