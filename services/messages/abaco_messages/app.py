"""Messages API routes: send a message to an actor, read and purge its mailbox."""

from __future__ import annotations

from typing import Any

from bottle import request

from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import Config
from abaco_shared.enums import Permission
from abaco_shared.http import AbacoApp, ok, principal, query_flag, raw
from abaco_shared.limits import SyncGate
from abaco_shared.lookup import get_actor
from abaco_shared.views import mailbox_view, message_accepted_view
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows.mailbox import IncomingMessage, purge_mailbox, submit_message, wait_for_logs

from .body import check_rendered_size, read_message

__all__ = ["make_app", "RESERVED_PARAMS", "message_params"]

# query parameters that are credentials or control, never passed to the container
RESERVED_PARAMS = {"message", "x-nonce", "access_token", "token"}


def message_params() -> dict[str, str]:
    """The query parameters that become the execution's environment."""
    return {k: request.query.getunicode(k) for k in request.query.keys() if k not in RESERVED_PARAMS}


def make_app(
    cfg: Config, authenticator: Authenticator, broker: Broker, signals: CompletionSignals, gate: SyncGate | None = None
) -> AbacoApp:
    """The messages API. ``gate`` bounds synchronous waits (default: from ``cfg.http``), so that
    one caller's slow synchronous calls cannot pin every request thread."""
    app = AbacoApp(cfg.general.version, authenticator, cfg.http.max_content_length, cfg.http.case)
    api = cfg.general.api_server
    max_message = cfg.http.max_message_length
    sync_gate = gate or SyncGate(cfg.http.max_sync_waits, cfg.http.max_sync_waits_per_user)

    @app.post("/actors/<actor_id>/messages")
    def send(actor_id: str) -> dict[str, Any] | bytes:
        who = principal()
        actor = get_actor(who, actor_id, Permission.EXECUTE)
        message, content_type = read_message(max_message)
        check_rendered_size(message, content_type, max_message)
        incoming = IncomingMessage(message, content_type, message_params())
        if not query_flag("_abaco_synchronous"):
            return ok(message_accepted_view(actor, submit_message(actor, who, incoming, broker, api), api))
        with sync_gate.slot(who.tenant, who.user):  # a 429 here, before anything is queued
            ex = submit_message(actor, who, incoming, broker, api)
            output = wait_for_logs(ex, signals, cfg.http.sync_timeout)
        return raw(output.encode(), X_Abaco_Execution_Id=ex.execution_id)

    @app.get("/actors/<actor_id>/messages")
    def count(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        return ok(mailbox_view(actor, api, messages=MailboxChannel(broker, actor.db_id).length()))

    @app.delete("/actors/<actor_id>/messages")
    def purge(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        purge_mailbox(actor, broker)
        return ok(mailbox_view(actor, api, msg="Actor mailbox purged."))

    return app
