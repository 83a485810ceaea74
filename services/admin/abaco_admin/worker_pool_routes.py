"""Admin API routes that change an actor's workers: POST (admins: ensure at least ``num``) and
DELETE of one worker (UPDATE: a graceful stop)."""

from __future__ import annotations

from typing import Any

from abaco_shared import workers
from abaco_shared.broker import Broker
from abaco_shared.config import Config
from abaco_shared.enums import Permission
from abaco_shared.errors import MethodNotAllowed, NotFound, PermissionDenied, ValidationError
from abaco_shared.http import AbacoApp, form_or_json_object, is_form, json_body, ok, principal
from abaco_shared.lookup import get_actor
from abaco_shared.workflows.scaling import Quota, ensure_workers, stop_worker

__all__ = ["install", "parse_num"]

MAX_BODY = 10_000


def parse_num(max_body: int = MAX_BODY) -> object:
    """``num`` from a JSON object or form body (default 1; an empty body is allowed); digits in a
    string (forms) become an int, anything else is left for the workflow to refuse."""
    if is_form():
        body = form_or_json_object(max_body)
    else:
        parsed = json_body(required=False)
        if parsed is None:
            return 1
        if not isinstance(parsed, dict):
            raise ValidationError("The request body must be a JSON object.")
        body = parsed
    num = body.get("num", 1)
    if num is None or num == "":
        return 1
    if isinstance(num, str) and num.strip().isdigit():
        return int(num.strip())
    return num


def install(app: AbacoApp, cfg: Config, broker: Broker) -> None:
    # /actors/admin/workers is a view (GET only), never the workers of an actor named "admin"
    @app.route("/actors/admin/workers", method=["POST", "PUT", "DELETE", "PATCH"])
    @app.route("/actors/admin/workers/<worker_id>", method=["POST", "PUT", "DELETE", "PATCH"])
    def admin_view_methods(worker_id: str = "") -> None:
        raise MethodNotAllowed("Invalid HTTP method on requested resource.")

    @app.post("/actors/<actor_id>/workers", max_body=MAX_BODY)
    def add_workers(actor_id: str) -> dict[str, Any]:
        who = principal()
        if not who.is_admin:
            raise PermissionDenied("Not authorized -- only admins may add workers.")
        actor = get_actor(who, actor_id, Permission.UPDATE)
        quota = Quota(cfg.spawner.max_workers_per_tenant, cfg.spawner.max_workers_per_user)
        scheduled, previously = ensure_workers(actor, parse_num(), broker, cfg.spawner.max_workers_per_actor, quota)
        message = f"Scheduled {scheduled} new worker(s) to start. Previously, there were {previously} workers."
        return ok(None, message)

    @app.delete("/actors/<actor_id>/workers/<worker_id>")
    def delete_worker(actor_id: str, worker_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        worker = workers.get_for_actor(actor.db_id, worker_id)
        if worker is None:
            raise NotFound(f"No worker found with identifier: {worker_id}.")
        stop_worker(worker, broker)
        return ok(None, "Worker scheduled to be stopped.")
