"""``/actors/admin``, ``/actors/admin/workers``, ``/actors/admin/executions``: the tenant's
actors, workers and execution totals, for the tenant's admins only (403 for anyone else).

Static paths: installed before the ``/actors/<actor_id>/...`` routes.
"""

from __future__ import annotations

from typing import Any

from abaco_shared import actors, executions, workers
from abaco_shared.admin_views import admin_actors_view, admin_executions_view, admin_workers_view
from abaco_shared.auth import Principal
from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import Config
from abaco_shared.errors import PermissionDenied
from abaco_shared.http import AbacoApp, ok, principal

__all__ = ["install"]


def _admin() -> Principal:
    who = principal()
    if not who.is_admin:
        raise PermissionDenied("Not authorized -- only admins may use the admin views.")
    return who


def install(app: AbacoApp, cfg: Config, broker: Broker) -> None:
    api = cfg.general.api_server

    @app.get("/actors/admin")
    def admin_actors() -> dict[str, Any]:
        tenant = _admin().tenant
        found = actors.list_visible(tenant)
        lengths = {a.db_id: MailboxChannel(broker, a.db_id).length() for a in found}
        view = admin_actors_view(
            found, workers.list_for_tenant(tenant), executions.totals_by_actor(tenant), lengths, api
        )
        return ok(view)

    @app.get("/actors/admin/workers")
    def admin_workers() -> dict[str, Any]:
        tenant = _admin().tenant
        return ok(admin_workers_view(workers.list_for_tenant(tenant), actors.list_visible(tenant)))

    @app.get("/actors/admin/executions")
    def admin_executions() -> dict[str, Any]:
        tenant = _admin().tenant
        return ok(admin_executions_view(actors.list_visible(tenant), executions.totals_by_actor(tenant)))
