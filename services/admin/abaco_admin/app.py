"""Admin API routes: an actor's workers (permissions and admin views come with later issues)."""

from __future__ import annotations

from typing import Any

from abaco_shared.context import Context
from abaco_shared.enums import Permission
from abaco_shared.errors import NotFound
from abaco_shared.http import AbacoApp, ok, principal
from abaco_shared.lookup import get_actor
from abaco_shared.models import Worker
from abaco_shared.views import worker_view

__all__ = ["make_app"]


def make_app(ctx: Context) -> AbacoApp:
    assert ctx.auth is not None
    app = AbacoApp(ctx.cfg, ctx.auth, "admin")

    @app.get("/actors/<actor_id>/workers")
    def list_workers(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        workers = Worker.objects(actor_dbid=actor.db_id).order_by("create_time")
        return ok([worker_view(w) for w in workers])

    @app.get("/actors/<actor_id>/workers/<worker_id>")
    def get_worker(actor_id: str, worker_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        worker = Worker.objects(db_id=f"{actor.db_id}_{worker_id}").first()
        if worker is None:
            raise NotFound(f"No worker found with identifier: {worker_id}.")
        return ok(worker_view(worker))

    return app
