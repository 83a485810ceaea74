"""Routes of /actors/{id}/executions: the summary, one execution, its results, its logs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bottle import request

from abaco_shared import executions, logs
from abaco_shared.enums import Permission
from abaco_shared.http import AbacoApp, form_or_json_object, ok, page_params, principal, query_flag
from abaco_shared.listing import search_if_asked
from abaco_shared.lookup import get_actor, get_execution
from abaco_shared.views import actor_view, execution_view, executions_summary, logs_view
from abaco_shared.workflows.executions import add_manual_execution, force_quit

from .deps import RegistrationDeps
from .log_follow import LogFollows
from .result_reads import read_results

__all__ = ["install"]


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api = deps.api
    follows = LogFollows.from_config(deps.cfg, deps.redis)

    @app.get("/actors/<actor_id>/executions")
    def list_executions(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        found = search_if_asked("executions", api, {"actor_dbid": actor.db_id})  # other params: a search
        if found is not None:
            return found
        limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
        page = executions.page(actor.db_id, limit, skip)
        return ok(executions_summary(actor, executions.totals(actor.db_id), page, api))

    @app.post("/actors/<actor_id>/executions", max_body=10_000)
    def add_execution(actor_id: str) -> dict[str, Any]:
        who = principal()
        actor = get_actor(who, actor_id, Permission.UPDATE)
        add_manual_execution(who, actor, form_or_json_object(10_000))
        return ok(actor_view(actor, api), "Added execution successfully.")

    @app.delete("/actors/<actor_id>/executions/<execution_id>")
    def force_quit_execution(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        return ok(None, force_quit(get_execution(actor, execution_id), deps.broker))

    @app.get("/actors/<actor_id>/executions/<execution_id>")
    def execution(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok(execution_view(get_execution(actor, execution_id), actor, api))

    @app.get("/actors/<actor_id>/executions/<execution_id>/results")
    def execution_results(actor_id: str, execution_id: str) -> dict[str, Any] | bytes:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return read_results(actor, get_execution(actor, execution_id), api)  # pops one; ?all=true lists

    @app.get("/actors/<actor_id>/executions/<execution_id>/logs")
    def execution_logs(actor_id: str, execution_id: str) -> dict[str, Any] | Iterator[bytes]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        ex = get_execution(actor, execution_id)
        if "follow" in request.query:  # a text/plain stream until the execution ends (log_follow)
            if query_flag("follow"):
                return follows.follow(principal(), ex)
            return ok(logs_view(actor, ex, logs.text_of(ex.db_id), api), "Logs retrieved successfully.")
        found = search_if_asked("logs", api, {"_id": ex.db_id})  # query params: a log search
        if found is not None:
            return found
        return ok(logs_view(actor, ex, logs.text_of(ex.db_id), api), "Logs retrieved successfully.")
