"""Routes of /actors and /actors/{id}: register, list, read, update, delete, and the state."""

from __future__ import annotations

from typing import Any

from abaco_shared import actors
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission
from abaco_shared.errors import NotFound, PermissionDenied
from abaco_shared.http import AbacoApp, form_or_json_object, json_body, ok, principal
from abaco_shared.listing import list_or_search
from abaco_shared.lookup import get_actor, get_actor_shared, read_actor
from abaco_shared.models import Actor
from abaco_shared.views import actor_view
from abaco_shared.webhooks import WebhookKey, secret_fields
from abaco_shared.workflows.registration import delete_actor, register_actor, update_actor

from .actor_fields import current_values, parse_actor_body, parse_force
from .deps import RegistrationDeps

__all__ = ["install", "ACTOR_BODY_MAX", "STATE_BODY_MAX"]

ACTOR_BODY_MAX = 1_000_000  # an actor description; messages have their own limit
STATE_BODY_MAX = 1_000_000  # a state's JSON, read at most; what is kept must fit in the environment


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api, broker, queues, limits = deps.api, deps.broker, deps.queues, deps.limits
    webhook_key = WebhookKey(deps.cfg.events)

    def shown(actor: Actor, who: Principal) -> dict[str, Any]:
        """The actor's view, with its ``webhook_secret`` for a caller with UPDATE on it."""
        return {**actor_view(actor, api), **secret_fields(actor, who, webhook_key)}

    @app.get("/actors")
    def list_actors() -> dict[str, Any]:
        return list_or_search("actors", api)  # limit/skip and X-Total-Count; other params: a search

    @app.post("/actors", max_body=ACTOR_BODY_MAX)
    def create_actor() -> dict[str, Any]:
        who = principal()
        values = parse_actor_body(form_or_json_object(ACTOR_BODY_MAX), who, queues, limits)
        return ok(shown(register_actor(who, values, broker), who), "Actor created successfully.")

    def view(actor: Actor) -> dict[str, Any]:  # one function for the process: read_actor keys on it
        return actor_view(actor, api)

    @app.get("/actors/<actor_id>")
    def get_one(actor_id: str) -> dict[str, Any]:
        who = principal()
        seen = read_actor(who, actor_id, Permission.READ, view)  # shared: not to be changed
        if not seen["webhook"]:
            return ok(seen)
        return ok(shown(get_actor_shared(who, actor_id, Permission.READ), who))  # with its secret, maybe

    @app.put("/actors/<actor_id>", max_body=ACTOR_BODY_MAX)
    def update(actor_id: str) -> dict[str, Any]:
        who = principal()
        actor = get_actor(who, actor_id, Permission.UPDATE)
        body = form_or_json_object(ACTOR_BODY_MAX)
        values = parse_actor_body(body, who, queues, limits, current=current_values(actor))
        if values.get("token") and not actor.token and who.user != actor.owner and not who.is_admin:
            # its containers would get tokens of the owner: only the owner (or an admin) says so
            raise PermissionDenied(f"Not authorized -- only the actor's owner ({actor.owner}) may turn token on.")
        update_actor(who, actor, values, parse_force(body), broker)
        return ok(shown(actor, who), "Actor updated successfully.")

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
        if not actors.set_state(actor, json_body(), max_bytes=deps.cfg.http.max_message_length):
            raise NotFound(f"No actor found with identifier: {actor_id}.")
        return ok(actor_view(actor, api), "State updated successfully.")
