"""Routes of an actor's dead letters, the messages its workers gave up on (``dead_letters``):
list them (READ), re-send one as a new execution (EXECUTE), or discard one (UPDATE)."""

from __future__ import annotations

from typing import Any

from bottle import request, response

from abaco_shared import dead_letters
from abaco_shared.enums import Permission
from abaco_shared.http import AbacoApp, ok, page_params, principal
from abaco_shared.listing import TOTAL_HEADER
from abaco_shared.lookup import get_actor
from abaco_shared.views import dead_letter_view
from abaco_shared.workflows import dead_letters as workflow

from .deps import RegistrationDeps

__all__ = ["install"]


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api = deps.api

    @app.get("/actors/<actor_id>/dead_letters")
    def list_dead_letters(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
        total, page = dead_letters.page(actor.db_id, limit, skip)
        response.set_header(TOTAL_HEADER, str(total))
        return ok([dead_letter_view(ex, actor, api) for ex in page])

    @app.get("/actors/<actor_id>/dead_letters/<execution_id>")
    def get_dead_letter(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok(dead_letter_view(workflow.held_letter(actor, execution_id), actor, api))

    @app.post("/actors/<actor_id>/dead_letters/<execution_id>")
    def resend_dead_letter(actor_id: str, execution_id: str) -> dict[str, Any]:
        who = principal()
        actor = get_actor(who, actor_id, Permission.EXECUTE)
        letter = workflow.resend(actor, who, execution_id, deps.broker, api)
        return ok(dead_letter_view(letter, actor, api), f"Dead letter re-sent as execution {letter.resent_as}.")

    @app.delete("/actors/<actor_id>/dead_letters/<execution_id>")
    def discard_dead_letter(actor_id: str, execution_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        workflow.discard(actor, execution_id)
        return ok(None, f"Dead letter {execution_id} discarded.")
