"""Messages API routes: send a message to an actor, read and purge its mailbox."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from typing import Any

from bottle import request

from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import Config
from abaco_shared.enums import Permission
from abaco_shared.http import AbacoApp, ok, principal, query_flag, query_items, raw
from abaco_shared.idempotency import KEY_HEADER, KEY_PARAM, IdempotencyKey, parse_key
from abaco_shared.limits import SyncGate
from abaco_shared.lookup import get_actor, get_actor_shared
from abaco_shared.views import mailbox_view, message_accepted_view
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows.mailbox import expecting_message, purge_mailbox, submit_message
from abaco_shared.workflows.sync_calls import TIMEOUT_PARAM, sync_timeout_of, wait_for_answer

from .body import is_binary, read_incoming
from .peek import parse_count, pending_messages

__all__ = ["make_app", "RESERVED_PARAMS", "message_params"]

# query parameters that are credentials or control, never passed to the container
RESERVED_PARAMS = {"message", "x-nonce", "access_token", "token", TIMEOUT_PARAM, KEY_PARAM}


def message_params() -> dict[str, str]:
    """The query parameters that become the execution's environment (the last of a repeated
    one), decoded as UTF-8: a 400 for one that is not."""
    return {k: v for k, v in query_items() if k not in RESERVED_PARAMS}


def idempotency_key(window: int) -> IdempotencyKey | None:
    """The request's Idempotency-Key (header, or query parameter), or None; a 400 if malformed."""
    return parse_key(request.get_header(KEY_HEADER), request.query.get(KEY_PARAM), window)


def make_app(
    cfg: Config, authenticator: Authenticator, broker: Broker, signals: CompletionSignals, gate: SyncGate | None = None
) -> AbacoApp:
    """The messages API. ``gate`` bounds synchronous waits (default: from ``cfg.http``), so that
    one caller's slow synchronous calls cannot pin every request thread."""
    app = AbacoApp(cfg.general.version, authenticator, cfg.http.max_content_length, cfg.http.case)
    api = cfg.general.api_server
    max_message = cfg.http.max_message_length
    sync_gate = gate or SyncGate(cfg.http.max_sync_waits, cfg.http.max_sync_waits_per_user)

    @app.post("/actors/<actor_id>/messages", max_body=max(cfg.http.max_content_length, cfg.http.max_binary_length))
    def send(actor_id: str) -> dict[str, Any] | bytes:
        # a message says it is on its way: a batch of other requests' messages may wait for it
        # (workflows.mailbox); not one with a key (it is written alone) or a binary one (its
        # payload is stored first, which may take longer than a batch should wait)
        alone = is_binary() or request.get_header(KEY_HEADER) is not None or KEY_PARAM in request.query
        with nullcontext() if alone else expecting_message(broker):
            return _send(actor_id)

    def _send(actor_id: str) -> dict[str, Any] | bytes:
        who = principal()
        actor = get_actor_shared(who, actor_id, Permission.EXECUTE)  # read only, never changed here
        timeout = sync_timeout_of(request.query.get(TIMEOUT_PARAM), cfg.http.sync_timeout)  # 400 if bad
        key = idempotency_key(cfg.http.idempotency_window)  # 400 if malformed
        incoming = read_incoming(max_message, cfg.http.max_binary_length, message_params())
        if key is not None:
            incoming = dataclasses.replace(incoming, idempotency=key)
        if not query_flag("_abaco_synchronous"):
            return ok(message_accepted_view(actor, submit_message(actor, who, incoming, broker, api), api))
        with sync_gate.slot(who.tenant, who.user):  # a 429 here, before anything is queued
            ex = submit_message(actor, who, incoming, broker, api)
            answer = wait_for_answer(ex, signals, timeout)  # the first result, else the logs
        kind = "result" if answer.is_result else "logs"
        ended = {"X_Abaco_Outcome": answer.outcome} if answer.outcome else {}
        if answer.exit_code is not None:
            ended["X_Abaco_Exit_Code"] = str(answer.exit_code)
        return raw(answer.body, X_Abaco_Execution_Id=ex.execution_id, X_Abaco_Answer=kind, **ended)

    @app.get("/actors/<actor_id>/messages")
    def count(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        peek = parse_count(request.query.get("count"))  # ?count=N: also the next N, not consumed
        length = MailboxChannel(broker, actor.db_id).length()
        if peek is None:
            return ok(mailbox_view(actor, api, messages=length))
        return ok(mailbox_view(actor, api, messages=length, pending=pending_messages(actor, peek)))

    @app.delete("/actors/<actor_id>/messages")
    def purge(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        purge_mailbox(actor, broker)
        return ok(mailbox_view(actor, api, msg="Actor mailbox purged."))

    return app
