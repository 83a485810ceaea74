"""The checks a loaded Config must pass: each fails start-up with one readable ConfigError."""

from __future__ import annotations

import ipaddress

from ..enums import PullPolicy
from ..errors import ConfigError, ValidationError
from ..mounts import check_template
from .sections import (
    MAX_BINARY_LENGTH,
    MAX_IDEMPOTENCY_WINDOW,
    MAX_LEEWAY,
    MAX_SOCKET_DIR,
    MAX_SYNC_WAITS,
    TENANT_RE,
    Config,
    EventsConfig,
)

__all__ = ["validate"]


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _validate_auth(cfg: Config) -> None:
    auth = cfg.auth
    if auth.access_control not in ("jwt", "none"):
        raise ConfigError("config auth.access_control must be 'jwt' or 'none'")
    if auth.access_control == "none" and not _is_loopback(cfg.http.host):
        raise ConfigError(
            f"config auth.access_control = 'none' (no authentication) is for development only: "
            f"http.host must be a loopback address, not {cfg.http.host!r}"
        )
    if not 0 <= auth.leeway <= MAX_LEEWAY:
        raise ConfigError(f"config auth.leeway must be between 0 and {MAX_LEEWAY} seconds")
    if auth.token_ttl < 1 or auth.actor_token_ttl < 1:
        raise ConfigError("config auth.token_ttl and auth.actor_token_ttl must be at least 1 second")
    tenants = [k.tenant for k in auth.tenant_key_list()]
    if len(set(tenants)) != len(tenants):
        raise ConfigError("config auth.tenant_keys names a tenant more than once")
    seen: dict[str, str] = {}
    for level in ("admin", "privileged", "user", "limited"):
        for name in getattr(auth, f"{level}_roles"):
            if seen.setdefault(name, level) != level:
                raise ConfigError(f"config auth: role name {name!r} is in both {seen[name]}_roles and {level}_roles")


def _validate_events(ev: EventsConfig) -> None:
    if not 0 < ev.webhook_timeout <= 60:
        raise ConfigError("config events.webhook_timeout must be more than 0 and at most 60 seconds")
    if not 1 <= ev.webhook_attempts <= 20:
        raise ConfigError("config events.webhook_attempts must be between 1 and 20")
    if ev.webhook_backoff < 0 or ev.webhook_backoff_max < ev.webhook_backoff:
        raise ConfigError("config events.webhook_backoff must be at least 0 and at most events.webhook_backoff_max")
    if not 1 <= ev.threads <= 64 or ev.prefetch < ev.threads:
        raise ConfigError("config events.threads must be between 1 and 64, and events.prefetch at least threads")


def validate(cfg: Config) -> None:
    _validate_auth(cfg)
    if cfg.spawner.pull_policy not in {p.value for p in PullPolicy}:
        raise ConfigError("config spawner.pull_policy must be 'if-not-present', 'always' or 'never'")
    if not cfg.spawner.host_queues:
        raise ConfigError("config spawner.host_queues must name at least one queue")
    sp = cfg.spawner
    if not 1 <= sp.max_parallel_spawns <= 64 or sp.command_prefetch < sp.max_parallel_spawns:
        raise ConfigError(
            "config spawner.max_parallel_spawns must be between 1 and 64, and spawner.command_prefetch at least that"
        )
    if sp.start_timeout < sp.worker_ready_timeout:
        raise ConfigError("config spawner.start_timeout must be at least spawner.worker_ready_timeout")
    if cfg.health.spawning_grace < cfg.health.startup_timeout:
        raise ConfigError("config health.spawning_grace must be at least health.startup_timeout")
    for template in cfg.worker.global_mounts + cfg.worker.privileged_mounts:
        try:
            check_template(template, cfg.worker.mount_roots)
        except ValidationError as exc:
            raise ConfigError(f"config worker mounts: {exc}") from None
    if cfg.http.threads < 1:
        raise ConfigError("config http.threads must be at least 1")
    if not 1 <= cfg.http.processes <= 64:
        raise ConfigError("config http.processes must be 1 to 64")
    if cfg.spawner.max_workers_per_tenant < 0 or cfg.spawner.max_workers_per_user < 0:
        raise ConfigError(
            "config spawner.max_workers_per_tenant and max_workers_per_user must be 0 (unlimited) or more"
        )
    if not 1 <= cfg.health.autoscale_interval <= 60 or cfg.health.max_scale_up < 1:
        raise ConfigError("config health.autoscale_interval must be 1 to 60 seconds and health.max_scale_up at least 1")
    if cfg.health.worker_idle_ttl < 0 or cfg.health.sync_max_idle_time < 0:
        raise ConfigError("config health.worker_idle_ttl and health.sync_max_idle_time must be at least 0")
    if not 1 <= cfg.health.cron_interval <= 60:
        raise ConfigError("config health.cron_interval must be 1 to 60 seconds (cron has minute slots)")
    if not 0.5 <= cfg.http.store_timeout <= 60:
        raise ConfigError("config http.store_timeout must be 0.5 to 60 seconds")
    if not 1 <= cfg.rabbit.confirm_timeout <= 600:
        raise ConfigError("config rabbit.confirm_timeout must be 1 to 600 seconds")
    if not 60 <= cfg.http.idempotency_window <= MAX_IDEMPOTENCY_WINDOW:
        raise ConfigError(f"config http.idempotency_window must be 60 to {MAX_IDEMPOTENCY_WINDOW} seconds")
    if cfg.http.case not in ("snake", "camel"):
        raise ConfigError("config http.case must be 'snake' or 'camel'")
    if cfg.http.max_sync_waits < 1 or cfg.http.max_sync_waits_per_user < 1:
        raise ConfigError("config http.max_sync_waits and http.max_sync_waits_per_user must be at least 1")
    if not 1 <= min(cfg.http.max_log_follows, cfg.http.max_log_follows_per_user, cfg.http.log_follow_timeout):
        raise ConfigError(
            "config http.max_log_follows, http.max_log_follows_per_user and http.log_follow_timeout must be at least 1"
        )
    if cfg.http.max_log_follows > MAX_SYNC_WAITS:  # each one holds a thread of the registration API
        raise ConfigError(f"config http.max_log_follows must be at most {MAX_SYNC_WAITS}")
    if cfg.worker.live_log_interval < 0:
        raise ConfigError("config worker.live_log_interval must be 0 (off) or a positive number of seconds")
    if cfg.http.max_sync_waits > MAX_SYNC_WAITS:  # each one holds a thread of the messages API
        raise ConfigError(f"config http.max_sync_waits must be at most {MAX_SYNC_WAITS}")
    if cfg.redis.max_connections < cfg.http.threads + cfg.http.max_sync_waits + 16:  # each wait holds one
        raise ConfigError(
            "config redis.max_connections must be at least http.threads + http.max_sync_waits + 16 "
            f"({cfg.http.threads + cfg.http.max_sync_waits + 16})"
        )
    if not 1 <= cfg.http.max_binary_length <= MAX_BINARY_LENGTH:
        raise ConfigError(f"config http.max_binary_length must be 1 to {MAX_BINARY_LENGTH} bytes")
    if cfg.http.sync_timeout < 1:
        raise ConfigError("config http.sync_timeout must be at least 1 second")
    if cfg.worker.max_results < 1 or cfg.worker.max_result_bytes < 1:
        raise ConfigError("config worker.max_results and worker.max_result_bytes must be at least 1")
    if len(cfg.worker.socket_dir) > MAX_SOCKET_DIR:  # a Unix socket path has at most 107 bytes
        raise ConfigError(f"config worker.socket_dir must be at most {MAX_SOCKET_DIR} characters long")
    _validate_events(cfg.events)
    if cfg.log.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("config log.level must be DEBUG, INFO, WARNING or ERROR")
    if cfg.metrics.access not in ("admin", "loopback"):
        raise ConfigError("config metrics.access must be 'admin' or 'loopback'")
    if not 0 <= cfg.metrics.max_mailboxes <= 10_000:
        raise ConfigError("config metrics.max_mailboxes must be between 0 and 10000")
    if not all(TENANT_RE.fullmatch(t) for t in cfg.metrics.operator_tenants):
        raise ConfigError("config metrics.operator_tenants: tenant ids are letters, digits, '-' and '.'")
