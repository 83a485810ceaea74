"""``GET /metrics``: the platform's metrics as Prometheus text (exposition format 0.0.4).

Who may read them (``[metrics] access``):
- ``admin`` (the default): an admin token. The series that name actors, workers or executions
  are the admin's tenant's, or every tenant's for admins of ``metrics.operator_tenants``.
- ``loopback``: as ``admin``, and also a caller on this host that sends no credential, who sees
  every tenant's series (a local Prometheus). A request with a credential is always judged by it.

A caller is on this host when the peer address is a loopback address and so is the address
nginx saw (``X-Real-IP``, which nginx always sets itself): a request through nginx from
elsewhere carries its real address there.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import redis
from bottle import request

from abaco_shared import scrape
from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker
from abaco_shared.config import Config, MetricsConfig
from abaco_shared.errors import PermissionDenied
from abaco_shared.exposition import CONTENT_TYPE, render
from abaco_shared.http import AbacoApp, raw, raw_headers

__all__ = ["install", "caller_is_local", "scope_of"]


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def caller_is_local(environ: dict[str, Any]) -> bool:
    """True when the request comes from this host (directly, or through nginx on loopback)."""
    if not _loopback(str(environ.get("REMOTE_ADDR") or "")):
        return False
    seen_by_proxy = str(environ.get("HTTP_X_REAL_IP") or "").strip()
    return not seen_by_proxy or _loopback(seen_by_proxy)


def scope_of(mcfg: MetricsConfig, authenticator: Authenticator, environ: dict[str, Any]) -> str | None:
    """The tenant whose series the caller may see (None: every tenant's); 401/403 otherwise."""
    headers = raw_headers(environ)
    if mcfg.access == "loopback" and not authenticator.has_credential(headers) and caller_is_local(environ):
        return None
    who = authenticator.identify_request(headers)
    if not who.is_admin:
        raise PermissionDenied("Not authorized -- only admins may read the metrics.")
    operators = {tenant.lower() for tenant in mcfg.operator_tenants}
    return None if who.tenant in operators else who.tenant


def install(app: AbacoApp, cfg: Config, authenticator: Authenticator, broker: Broker, client: redis.Redis) -> None:
    @app.get("/metrics", auth=False)  # access is decided here: a local caller may need no token
    def metrics_text() -> bytes:
        tenant = scope_of(cfg.metrics, authenticator, request.environ)
        families = scrape.collect(tenant, broker, client, cfg.redis.key_prefix, cfg.metrics.max_mailboxes)
        return raw(render(families).encode(), CONTENT_TYPE)
