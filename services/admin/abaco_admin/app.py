"""Admin API routes: an actor's workers (permissions and admin views come with later issues)."""

from __future__ import annotations

from typing import Any

from abaco_shared import workers
from abaco_shared.auth import Authenticator
from abaco_shared.config import Config
from abaco_shared.enums import Permission
from abaco_shared.errors import NotFound
from abaco_shared.http import AbacoApp, ok, principal
from abaco_shared.lookup import get_actor
from abaco_shared.views import worker_view

__all__ = ["make_app"]


def make_app(cfg: Config, authenticator: Authenticator) -> AbacoApp:
    app = AbacoApp(cfg.general.version, authenticator, cfg.http.max_content_length)

    @app.get("/actors/<actor_id>/workers")
    def list_workers(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok([worker_view(w) for w in workers.list_for_actor(actor.db_id)])

    @app.get("/actors/<actor_id>/workers/<worker_id>")
    def get_worker(actor_id: str, worker_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        worker = workers.get_for_actor(actor.db_id, worker_id)
        if worker is None:
            raise NotFound(f"No worker found with identifier: {worker_id}.")
        return ok(worker_view(worker))

    return app
