"""The registration API: one routes module per resource, installed on one app.

A route parses the request, calls one workflow or lookup, and renders the answer. Collections
whose names could be taken for an actor id (``/actors/aliases``, ``/actors/configs``,
``/actors/search``...) are installed before the actor routes: bottle tries dynamic routes in
the order they were added.
"""

from __future__ import annotations

from typing import Any

from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker
from abaco_shared.config import Config
from abaco_shared.http import AbacoApp, page_params

from . import (
    actor_routes,
    alias_routes,
    config_routes,
    dead_letter_routes,
    docs_routes,
    execution_routes,
    nonce_routes,
    search_routes,
    utilization_routes,
)
from .actor_fields import Limits
from .deps import RegistrationDeps

__all__ = ["make_app", "page_params", "ROUTE_MODULES"]

# the order matters (see above): collections first, then /actors/<id>...
ROUTE_MODULES = (
    docs_routes,
    nonce_routes,
    alias_routes,
    search_routes,
    config_routes,
    utilization_routes,
    actor_routes,
    execution_routes,
    dead_letter_routes,
)


def make_app(cfg: Config, authenticator: Authenticator, broker: Broker, redis_client: Any = None) -> AbacoApp:
    app = AbacoApp(cfg.general.version, authenticator, cfg.http.max_content_length, cfg.http.case)
    deps = RegistrationDeps(
        cfg,
        broker,
        Limits(
            max_run_time=cfg.worker.max_run_time_limit,
            log_ex=cfg.worker.log_ex_limit,
            default_log_ex=cfg.worker.log_ex,
        ),
        redis_client,
    )
    for module in ROUTE_MODULES:
        module.install(app, deps)
    return app
