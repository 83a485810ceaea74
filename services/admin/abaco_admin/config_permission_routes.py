"""Routes of /actors/configs/{name}/permissions: the grants on a config (reference 1.4).

Installed before the actor routes. GET needs READ on the config, POST needs UPDATE; the
config's owner always keeps UPDATE.
"""

from __future__ import annotations

from typing import Any

from abaco_shared import configs, permissions
from abaco_shared.enums import Permission
from abaco_shared.http import AbacoApp, form_or_json_object, ok, principal
from abaco_shared.lookup import get_config
from abaco_shared.workflows.configs import share_config

__all__ = ["install"]

GRANT_BODY_MAX = 10_000


def install(app: AbacoApp) -> None:
    @app.get("/actors/configs/<name>/permissions")
    def list_permissions(name: str) -> dict[str, Any]:
        config = get_config(principal(), name, Permission.READ)
        return ok(permissions.map_for(config.tenant, configs.permission_key(config.tenant, config.name)))

    @app.post("/actors/configs/<name>/permissions", max_body=GRANT_BODY_MAX)
    def add_permission(name: str) -> dict[str, Any]:
        config = get_config(principal(), name, Permission.UPDATE)
        user, level = permissions.parse_grant(form_or_json_object(GRANT_BODY_MAX))
        return ok(share_config(config, user, level), "Permission added successfully.")
