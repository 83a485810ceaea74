"""Routes of nonces (reference 1.2 and 1.4): ``/actors/{id}/nonces[/{nid}]`` and
``/actors/aliases/{alias}/nonces[/{nid}]``.

An actor's nonces need READ (list, get) or UPDATE (create, delete) on the actor; an alias's need
that level on both the alias and the actor it names. A nonce's id is a credential, so a caller is
shown only the nonces whose level its own covers: one with READ sees NONE and READ nonces, and an
EXECUTE or UPDATE one is "not found" for it. A nonce is not accepted here at all
(``nonces.target_key``). Installed before the alias and actor routes.
"""

from __future__ import annotations

from typing import Any

from bottle import request, response

from abaco_shared import nonces, permissions
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission
from abaco_shared.errors import NotFound
from abaco_shared.http import AbacoApp, form_or_json_object, is_form, ok, page_params, principal
from abaco_shared.listing import TOTAL_HEADER
from abaco_shared.lookup import get_actor, get_alias
from abaco_shared.models import Nonce
from abaco_shared.views import nonce_view

from .deps import RegistrationDeps

__all__ = ["install", "NONCE_BODY_MAX"]

NONCE_BODY_MAX = 16_384


def _body() -> dict[str, Any]:
    """The POST body; an empty one asks for every default."""
    if not is_form() and not request.content_length:
        return {}
    return form_or_json_object(NONCE_BODY_MAX)


def _actor_target(who: Principal, actor_id: str, needed: Permission) -> tuple[str, str, Permission]:
    """(name, key) of the actor whose nonces a request names, checked at ``needed``, and the
    caller's level on it."""
    actor = get_actor(who, actor_id, needed)
    return actor.actor_id, actor.db_id, permissions.level_of(who, actor.db_id)


def _alias_target(who: Principal, alias: str, needed: Permission) -> tuple[str, str, Permission]:
    """(name, key) of the alias whose nonces a request names: ``needed`` on the alias and its
    actor; and the caller's level on both (the lower)."""
    record = get_alias(who, alias, needed)
    actor = get_actor(who, record.actor_id, needed)
    level = min(permissions.level_of(who, record.db_id), permissions.level_of(who, actor.db_id))
    return record.alias, record.db_id, level


def _one(who: Principal, key: str, nonce_id: str, up_to: Permission = Permission.UPDATE) -> Nonce:
    record = nonces.get(who.tenant, key, nonce_id, up_to)
    if record is None:
        raise NotFound(f"No nonce found with identifier: {nonce_id}.")
    return record


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api = deps.api
    targets = ((nonces.ALIAS, "/actors/aliases/<name>", _alias_target), (nonces.ACTOR, "/actors/<name>", _actor_target))

    for kind, base, target in targets:

        def list_nonces(name: str, target: Any = target) -> dict[str, Any]:
            who = principal()
            _, key, level = target(who, name, Permission.READ)
            limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
            response.set_header(TOTAL_HEADER, str(nonces.count_for(who.tenant, key, level)))
            return ok([nonce_view(n, api) for n in nonces.list_for(who.tenant, key, limit, skip, level)])

        def create_nonce(name: str, kind: str = kind, target: Any = target) -> dict[str, Any]:
            who = principal()
            label, key, _ = target(who, name, Permission.UPDATE)
            record = nonces.create(who, kind, label, key, nonces.parse_request(_body(), kind))
            return ok(nonce_view(record, api), "Nonce created successfully.")

        def get_nonce(name: str, nonce_id: str, target: Any = target) -> dict[str, Any]:
            who = principal()
            _, key, level = target(who, name, Permission.READ)
            return ok(nonce_view(_one(who, key, nonce_id, level), api))

        def delete_nonce(name: str, nonce_id: str, target: Any = target) -> dict[str, Any]:
            who = principal()
            _, key, _ = target(who, name, Permission.UPDATE)
            nonces.delete(_one(who, key, nonce_id))
            return ok(None, "Nonce deleted successfully.")

        app.route(f"{base}/nonces", "GET", list_nonces)
        app.route(f"{base}/nonces", "POST", create_nonce, max_body=NONCE_BODY_MAX)
        app.route(f"{base}/nonces/<nonce_id>", "GET", get_nonce)
        app.route(f"{base}/nonces/<nonce_id>", "DELETE", delete_nonce)
