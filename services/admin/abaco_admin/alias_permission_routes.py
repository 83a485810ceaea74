"""Routes of /actors/aliases/{alias}/permissions: the grants on an alias record itself.

They are not the grants on the alias's actor: using an alias in an actor path checks the
caller's level on the actor; these decide who may read, rebind or delete the alias.
"""

from __future__ import annotations

from typing import Any

from abaco_shared import permissions
from abaco_shared.enums import Permission
from abaco_shared.http import AbacoApp, form_or_json_object, ok, principal
from abaco_shared.lookup import get_alias
from abaco_shared.workflows.aliases import share_alias

__all__ = ["install"]

GRANT_BODY_MAX = 10_000


def install(app: AbacoApp) -> None:
    @app.get("/actors/aliases/<alias>/permissions")
    def list_permissions(alias: str) -> dict[str, Any]:
        record = get_alias(principal(), alias, Permission.READ)
        return ok(permissions.map_for(record.tenant, record.db_id))

    @app.post("/actors/aliases/<alias>/permissions", max_body=GRANT_BODY_MAX)
    def add_permission(alias: str) -> dict[str, Any]:
        record = get_alias(principal(), alias, Permission.UPDATE)
        user, level = permissions.parse_grant(form_or_json_object(GRANT_BODY_MAX))
        return ok(share_alias(record, user, level), "Permission added successfully.")
