"""Registration API routes: actors, their executions and execution logs.

A route parses the request, calls one workflow or lookup, and renders the answer.
"""

from __future__ import annotations

from typing import Any

from bottle import request

from abaco_shared import actors, executions, logs, permissions
from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker
from abaco_shared.config import Config
from abaco_shared.enums import Permission
from abaco_shared.errors import NotFound, ValidationError
from abaco_shared.http import AbacoApp, form_or_json_object, json_body, ok, principal
from abaco_shared.lookup import get_actor, get_execution
from abaco_shared.views import actor_view, execution_view, executions_summary, logs_view
from abaco_shared.workflows.registration import delete_actor, register_actor, update_actor

from .actor_fields import Limits, parse_actor_body, parse_force

__all__ = ["make_app", "page_params"]

ACTOR_BODY_MAX = 1_000_000  # an actor description; messages have their own limit
STATE_BODY_MAX = 1_000_000  # a state's JSON, read at most; what is kept must fit in the environment


def make_app(cfg: Config, authenticator: Authenticator, broker: Broker) -> AbacoApp:
    app = AbacoApp(cfg.general.version, authenticator, cfg.http.max_content_length)
    api = cfg.general.api_server
    queues = cfg.spawner.host_queues
    limits = Limits(max_run_time=cfg.worker.max_run_time_limit)

    @app.get("/actors")
    def list_actors() -> dict[str, Any]:
        who = principal()
        only = None if who.is_admin else permissions.readable_objects(who)
        return ok([actor_view(a, api) for a in actors.list_visible(who.tenant, only)])

    @app.post("/actors", max_body=ACTOR_BODY_MAX)
    def create_actor() -> dict[str, Any]:
        who = principal()
        values = parse_actor_body(form_or_json_object(ACTOR_BODY_MAX), who, queues, limits)
        return ok(actor_view(register_actor(who, values, broker), api), "Actor created successfully.")

    @app.get("/actors/<actor_id>")
    def get_one(actor_id: str) -> dict[str, Any]:
        return ok(actor_view(get_actor(principal(), actor_id, Permission.READ), api))

    @app.put("/actors/<actor_id>", max_body=ACTOR_BODY_MAX)
    def update(actor_id: str) -> dict[str, Any]:
        who = principal()
        actor = get_actor(who, actor_id, Permission.UPDATE)
        body = form_or_json_object(ACTOR_BODY_MAX)
        values = parse_actor_body(body, who, queues, limits)
        update_actor(who, actor, values, parse_force(body), broker)
        return ok(actor_view(actor, api), "Actor updated successfully.")

    @app.delete("/actors/<actor_id>")
    def delete(actor_id: str) -> dict[str, Any]:
        delete_actor(get_actor(principal(), actor_id, Permission.UPDATE), broker)
        return ok(None, "Actor deleted successfully.")

    @app.get("/actors/<actor_id>/state")
    def get_state(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok({"state": actors.get_state(actor)})

    @app.post("/actors/<actor_id>/state", max_body=STATE_BODY_MAX)
    def set_state(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        if not actors.set_state(actor, json_body(), max_bytes=cfg.http.max_message_length):
            raise NotFound(f"No actor found with identifier: {actor_id}.")
        return ok(actor_view(actor, api), "State updated successfully.")

    @app.get("/actors/<actor_id>/executions")
    def list_executions(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
        page = executions.page(actor.db_id, limit, skip)
        return ok(executions_summary(actor, executions.totals(actor.db_id), page, api))

    @app.get("/actors/<actor_id>/executions/<execution_id>")
    def execution(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok(execution_view(get_execution(actor, execution_id), actor, api))

    @app.get("/actors/<actor_id>/executions/<execution_id>/logs")
    def execution_logs(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        ex = get_execution(actor, execution_id)
        return ok(logs_view(actor, ex, logs.text_of(ex.db_id), api), "Logs retrieved successfully.")

    return app


def page_params(limit: str | None, skip: str | None) -> tuple[int, int]:
    """``limit`` (default 100, at most 1000) and ``skip`` query parameters."""
    try:
        lim = int(limit) if limit is not None else 100
        skp = int(skip) if skip is not None else 0
    except ValueError:
        raise ValidationError("Invalid limit or skip: expected non-negative integers.") from None
    if lim < 0 or skp < 0 or lim > 1000 or skp > 2**31 - 1:
        raise ValidationError("Invalid limit or skip: limit must be 0-1000 and skip 0-2147483647.")
    return lim, skp
