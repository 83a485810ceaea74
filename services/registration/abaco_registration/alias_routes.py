"""Routes of /actors/aliases: list, create, read, rebind and delete aliases (reference 1.4).

Installed before the actor routes, so that ``/actors/aliases`` is never taken for an actor id.
The permissions on an alias (``/actors/aliases/{alias}/permissions``) are the admin API's.
"""

from __future__ import annotations

from typing import Any

from bottle import request, response

from abaco_shared import aliases, permissions
from abaco_shared.enums import Permission
from abaco_shared.errors import MethodNotAllowed, ValidationError
from abaco_shared.http import AbacoApp, form_or_json_object, ok, page_params, principal
from abaco_shared.lookup import get_actor, get_alias
from abaco_shared.views import alias_view
from abaco_shared.workflows.aliases import create_alias, delete_alias, rebind_alias

from .deps import RegistrationDeps

__all__ = ["install", "ALIAS_BODY_MAX"]

ALIAS_BODY_MAX = 10_000


def _actor_id_field(body: dict[str, Any]) -> str:
    value = body.get("actor_id")
    if not isinstance(value, str) or not value:
        raise ValidationError("Invalid actor_id: the field 'actor_id' is required (an actor id or alias).")
    return value


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api = deps.api

    @app.get("/actors/aliases")
    def list_aliases() -> dict[str, Any]:
        """The tenant's aliases the caller may READ (admins: all of them), newest first."""
        who = principal()
        limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
        only = None if who.is_admin else permissions.readable_objects(who)
        response.set_header("X-Total-Count", str(aliases.count_for_tenant(who.tenant, only)))
        return ok([alias_view(a, api) for a in aliases.list_for_tenant(who.tenant, limit, skip, only)])

    @app.post("/actors/aliases", max_body=ALIAS_BODY_MAX)
    def create() -> dict[str, Any]:
        who = principal()
        body = form_or_json_object(ALIAS_BODY_MAX)
        alias = aliases.validate(body.get("alias"))
        actor = get_actor(who, _actor_id_field(body), Permission.UPDATE)
        return ok(alias_view(create_alias(who, alias, actor), api), "Alias created successfully.")

    @app.route("/actors/aliases", method=["PUT", "DELETE", "PATCH"])
    def collection_methods() -> None:
        raise MethodNotAllowed("Invalid HTTP method on requested resource.")

    @app.get("/actors/aliases/<alias>")
    def get_one(alias: str) -> dict[str, Any]:
        return ok(alias_view(get_alias(principal(), alias, Permission.READ), api))

    @app.put("/actors/aliases/<alias>", max_body=ALIAS_BODY_MAX)
    def rebind(alias: str) -> dict[str, Any]:
        who = principal()
        record = get_alias(who, alias, Permission.UPDATE)
        body = form_or_json_object(ALIAS_BODY_MAX)
        if body.get("alias") not in (None, "", record.alias):
            raise ValidationError("Invalid alias: an alias cannot be renamed; create a new one instead.")
        actor = get_actor(who, _actor_id_field(body), Permission.UPDATE)
        return ok(alias_view(rebind_alias(record, actor), api), "Alias updated successfully.")

    @app.delete("/actors/aliases/<alias>")
    def delete(alias: str) -> dict[str, Any]:
        delete_alias(get_alias(principal(), alias, Permission.UPDATE))
        return ok(None, "Alias deleted successfully.")
