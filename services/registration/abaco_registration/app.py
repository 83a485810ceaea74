"""Registration API routes: actors, their executions and execution logs. Routes stay thin."""

from __future__ import annotations

import logging
from typing import Any

from bottle import request

from abaco_shared.auth import grant, readable_objects
from abaco_shared.context import Context
from abaco_shared.enums import ActorStatus, Permission
from abaco_shared.errors import ValidationError
from abaco_shared.http import AbacoApp, form_or_json_object, ok, principal
from abaco_shared.ids import new_id
from abaco_shared.lifecycle import cancel_pending_executions, remove_actor_channels, request_worker, stop_workers
from abaco_shared.lookup import get_actor, get_execution
from abaco_shared.models import Actor, Execution, Log, PermissionRecord, utcnow
from abaco_shared.views import actor_view, execution_summary_item, execution_view, links

from .actor_fields import Limits, parse_actor_body

__all__ = ["make_app"]

log = logging.getLogger(__name__)


def make_app(ctx: Context) -> AbacoApp:
    assert ctx.auth is not None
    app = AbacoApp(ctx.cfg, ctx.auth, "registration")
    api = ctx.cfg.general.api_server
    queues = ctx.cfg.spawner.host_queues
    limits = Limits(max_run_time=ctx.cfg.worker.max_run_time_limit)

    @app.get("/actors")
    def list_actors() -> dict[str, Any]:
        who = principal()
        actors = Actor.objects(tenant=who.tenant).order_by("create_time")
        if not who.is_admin:
            actors = actors.filter(db_id__in=list(readable_objects(who)))
        return ok([actor_view(a, api) for a in actors])

    @app.post("/actors")
    def create_actor() -> dict[str, Any]:
        who = principal()
        values = parse_actor_body(form_or_json_object(), who, queues, limits)
        actor_id = new_id()
        actor = Actor(db_id=f"{who.tenant}_{actor_id}", actor_id=actor_id, tenant=who.tenant, owner=who.user, **values)
        actor.save(force_insert=True)
        grant(who.tenant, actor.db_id, who.user, Permission.UPDATE)
        request_worker(actor, ctx.broker)
        log.info("actor registered", extra={"actor_id": actor.db_id, "image": actor.image})
        return ok(actor_view(actor, api), "Actor created successfully.")

    @app.get("/actors/<actor_id>")
    def get_one(actor_id: str) -> dict[str, Any]:
        return ok(actor_view(get_actor(principal(), actor_id, Permission.READ), api))

    @app.put("/actors/<actor_id>")
    def update(actor_id: str) -> dict[str, Any]:
        who = principal()
        actor = get_actor(who, actor_id, Permission.UPDATE)
        body = form_or_json_object()
        force = str(body.get("force", "false")).lower() in ("true", "1")
        values = parse_actor_body(body, who, queues, limits)
        if actor.stateless is False and values["stateless"] is True:
            raise ValidationError("Invalid stateless: a stateful actor cannot become stateless.")
        new_image = values["image"] != actor.image or force
        for name, value in values.items():
            setattr(actor, name, value)
        actor.last_update_time = utcnow()
        if new_image:
            actor.revision += 1
            actor.status = ActorStatus.SUBMITTED.value
            actor.status_message = ""
        actor.save()
        if who.user != actor.owner:
            grant(who.tenant, actor.db_id, who.user, Permission.UPDATE)
        if new_image:
            request_worker(actor, ctx.broker, stop_existing=True)
        return ok(actor_view(actor, api), "Actor updated successfully.")

    @app.delete("/actors/<actor_id>")
    def delete(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        Actor.objects(db_id=actor.db_id).update_one(set__status=ActorStatus.SHUTTING_DOWN.value)
        stopped = stop_workers(actor.db_id, ctx.broker, command="stop")
        Log.objects(actor_dbid=actor.db_id).delete()
        remove_actor_channels(actor.db_id, ctx.broker)
        cancel_pending_executions(actor.db_id, "The actor was deleted.")
        PermissionRecord.objects(tenant=actor.tenant, object_id=actor.db_id).delete()
        actor.delete()
        log.info("actor deleted", extra={"actor_id": actor.db_id, "workers_stopped": stopped})
        return ok(None, "Actor deleted successfully.")

    @app.get("/actors/<actor_id>/executions")
    def executions(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        limit, skip = _page()
        qs = Execution.objects(actor_dbid=actor.db_id)
        totals = _totals(actor.db_id)
        page = qs.order_by("-message_received_time", "-db_id").skip(skip).limit(limit) if limit else []
        return ok(
            {
                "actor_id": actor.actor_id,
                "api_server": api,
                "owner": actor.owner,
                "total_executions": totals["count"],
                "total_cpu": totals["cpu"],
                "total_io": totals["io"],
                "total_runtime": totals["runtime"],
                "executions": [execution_summary_item(e) for e in page],
                "_links": links(api, actor.owner, self=f"{actor.actor_id}/executions"),
            }
        )

    @app.get("/actors/<actor_id>/executions/<execution_id>")
    def execution(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok(execution_view(get_execution(actor, execution_id), actor, api))

    @app.get("/actors/<actor_id>/executions/<execution_id>/logs")
    def execution_logs(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        ex = get_execution(actor, execution_id)
        record = Log.objects(db_id=ex.db_id).first()
        base = f"{actor.actor_id}/executions/{ex.execution_id}"
        return ok(
            {
                "logs": record.logs if record else "",
                "_links": links(api, actor.owner, self=f"{base}/logs", execution=base),
            },
            "Logs retrieved successfully.",
        )

    return app


def _page() -> tuple[int, int]:
    """``limit`` (default 100, at most 1000) and ``skip`` query parameters."""
    try:
        limit = int(request.query.get("limit", 100))
        skip = int(request.query.get("skip", 0))
    except ValueError:
        raise ValidationError("Invalid limit or skip: expected non-negative integers.") from None
    if limit < 0 or skip < 0 or limit > 1000:
        raise ValidationError("Invalid limit or skip: limit must be 0-1000 and skip non-negative.")
    return limit, skip


def _totals(actor_dbid: str) -> dict[str, int]:
    pipeline = [
        {"$match": {"actor_dbid": actor_dbid}},
        {
            "$group": {
                "_id": None,
                "count": {"$sum": 1},
                "cpu": {"$sum": "$cpu"},
                "io": {"$sum": "$io"},
                "runtime": {"$sum": "$runtime"},
            }
        },
    ]
    rows = list(Execution.objects.aggregate(pipeline))
    if not rows:
        return {"count": 0, "cpu": 0, "io": 0, "runtime": 0}
    return {k: int(rows[0][k]) for k in ("count", "cpu", "io", "runtime")}
