"""Routes of /actors/configs: list, create, read, update and delete actor configs (reference 1.4).

Installed before the actor routes, so that ``/actors/configs`` is never taken for an actor id.
The permissions on a config (``/actors/configs/{name}/permissions``) are the admin API's.
"""

from __future__ import annotations

from typing import Any

from bottle import request, response

from abaco_shared import configs, permissions
from abaco_shared.configs import ConfigCipher
from abaco_shared.enums import Permission
from abaco_shared.errors import MethodNotAllowed
from abaco_shared.http import AbacoApp, form_or_json_object, ok, page_params, principal
from abaco_shared.lookup import get_config
from abaco_shared.views import config_view
from abaco_shared.workflows.configs import create_config, delete_config, parse_config_body, update_config

from .deps import RegistrationDeps

__all__ = ["install", "CONFIG_BODY_MAX"]

CONFIG_BODY_MAX = 100_000  # a value's JSON is at most configs.MAX_VALUE_BYTES


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api = deps.api
    key_file = deps.cfg.general.config_key_file

    def cipher() -> ConfigCipher | None:
        """The install's config key, read when a secret is written (it may appear after start)."""
        return ConfigCipher.from_file(key_file)

    def readable_names() -> set[str] | None:
        who = principal()
        if who.is_admin:
            return None
        prefix = configs.permission_key(who.tenant, "")
        return {key[len(prefix) :] for key in permissions.readable_objects(who) if key.startswith(prefix)}

    @app.get("/actors/configs")
    def list_configs() -> dict[str, Any]:
        """The tenant's configs the caller may READ (admins: all of them), newest first."""
        who = principal()
        limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
        only = readable_names()
        response.set_header("X-Total-Count", str(configs.count_for(who.tenant, only)))
        return ok([config_view(c, api) for c in configs.list_for(who.tenant, only, limit, skip)])

    @app.post("/actors/configs", max_body=CONFIG_BODY_MAX)
    def create() -> dict[str, Any]:
        body = parse_config_body(form_or_json_object(CONFIG_BODY_MAX), create=True)
        return ok(config_view(create_config(principal(), body, cipher()), api), "Config created successfully.")

    @app.route("/actors/configs", method=["PUT", "DELETE", "PATCH"])
    def collection_methods() -> None:
        raise MethodNotAllowed("Invalid HTTP method on requested resource.")

    @app.get("/actors/configs/<name>")
    def get_one(name: str) -> dict[str, Any]:
        return ok(config_view(get_config(principal(), name, Permission.READ), api))

    @app.put("/actors/configs/<name>", max_body=CONFIG_BODY_MAX)
    def update(name: str) -> dict[str, Any]:
        who = principal()
        config = get_config(who, name, Permission.UPDATE)
        body = parse_config_body(form_or_json_object(CONFIG_BODY_MAX), create=False)
        return ok(config_view(update_config(who, config, body, cipher()), api), "Config updated successfully.")

    @app.delete("/actors/configs/<name>")
    def delete(name: str) -> dict[str, Any]:
        delete_config(get_config(principal(), name, Permission.UPDATE))
        return ok(None, "Config deleted successfully.")
