"""``GET /actors/utilization``: the caller's tenant at a glance (any authenticated caller).

A static path: installed before the actor routes, so it is never looked up as an actor id.
"""

from __future__ import annotations

from typing import Any

from abaco_shared import actors, executions, workers
from abaco_shared.admin_views import utilization_view
from abaco_shared.channels import CommandChannel
from abaco_shared.http import AbacoApp, ok, principal

from .deps import RegistrationDeps

__all__ = ["install"]


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    @app.get("/actors/utilization")
    def utilization() -> dict[str, Any]:
        tenant = principal().tenant
        current = {a.db_id for a in actors.list_visible(tenant)}
        ever = current | set(executions.totals_by_actor(tenant))  # deleted actors keep their executions
        queued = sum(CommandChannel(deps.broker, q).length() for q in deps.queues)
        return ok(utilization_view(len(current), len(ever), len(workers.list_for_tenant(tenant)), queued))
