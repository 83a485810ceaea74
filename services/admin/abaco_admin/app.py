"""Admin API routes: an actor's workers and permissions."""

from __future__ import annotations

from typing import Any

import redis

from abaco_shared import permissions, workers
from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker
from abaco_shared.config import Config
from abaco_shared.enums import Permission
from abaco_shared.errors import NotFound
from abaco_shared.http import AbacoApp, form_or_json_object, ok, principal
from abaco_shared.listing import list_or_search
from abaco_shared.lookup import get_actor
from abaco_shared.store import connect_redis
from abaco_shared.views import worker_view
from abaco_shared.workflows.registration import share_actor

from . import admin_routes, alias_permission_routes, config_permission_routes, metrics_routes, worker_pool_routes

__all__ = ["make_app"]


def make_app(
    cfg: Config, authenticator: Authenticator, broker: Broker | None = None, redis_client: redis.Redis | None = None
) -> AbacoApp:
    app = AbacoApp(cfg.general.version, authenticator, cfg.http.max_content_length, cfg.http.case)
    if broker is None:  # connects on first use (the mailbox lengths of /actors/admin)
        broker = Broker(cfg.rabbit.broker_url(), retries=cfg.rabbit.connect_retries, prefix=cfg.rabbit.queue_prefix)
    admin_routes.install(app, cfg, broker)  # /actors/admin*: static paths, before the actor routes
    alias_permission_routes.install(app)  # collections before /actors/<actor_id>/... routes
    config_permission_routes.install(app)
    worker_pool_routes.install(app, cfg, broker)  # POST workers (admins), DELETE one worker
    # GET /metrics; a Redis client connects on first use
    metrics_routes.install(app, cfg, authenticator, broker, redis_client or connect_redis(cfg.redis))

    @app.get("/actors/<actor_id>/workers")
    def list_workers(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        # limit/skip, newest first, X-Total-Count; other params: a worker search
        return list_or_search("workers", cfg.general.api_server, {"actor_dbid": actor.db_id})

    @app.get("/actors/<actor_id>/workers/<worker_id>")
    def get_worker(actor_id: str, worker_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        worker = workers.get_for_actor(actor.db_id, worker_id)
        if worker is None:
            raise NotFound(f"No worker found with identifier: {worker_id}.")
        return ok(worker_view(worker))

    @app.get("/actors/<actor_id>/permissions")
    def list_permissions(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok(permissions.map_for(actor.tenant, actor.db_id))

    @app.post("/actors/<actor_id>/permissions", max_body=10_000)
    def add_permission(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        user, level = permissions.parse_grant(form_or_json_object(10_000))
        return ok(share_actor(actor, user, level), "Permission added successfully.")

    return app
