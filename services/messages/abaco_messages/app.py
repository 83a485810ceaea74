"""Messages API routes: send a message to an actor, read and purge its mailbox."""

from __future__ import annotations

import logging
from typing import Any

from bottle import request, response

from abaco_shared.channels import MailboxChannel
from abaco_shared.context import Context
from abaco_shared.enums import ActorStatus, ExecutionOutcome, ExecutionStatus, Permission
from abaco_shared.errors import AbacoError, ChannelError, Conflict, WaitTimeout
from abaco_shared.http import AbacoApp, ok, principal
from abaco_shared.ids import new_id
from abaco_shared.lifecycle import cancel_pending_executions, ensure_one_worker
from abaco_shared.lookup import get_actor
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Execution, Log, utcnow
from abaco_shared.views import links
from abaco_shared.waiters import wait_done

from .body import check_rendered_size, read_message

__all__ = ["make_app"]

log = logging.getLogger(__name__)

# query parameters that are credentials or control, never passed to the container
RESERVED_PARAMS = {"message", "x-nonce", "access_token", "token"}


def make_app(ctx: Context) -> AbacoApp:
    assert ctx.auth is not None
    app = AbacoApp(ctx.cfg, ctx.auth, "messages")
    api = ctx.cfg.general.api_server

    @app.post("/actors/<actor_id>/messages")
    def send(actor_id: str) -> dict[str, Any]:
        who = principal()
        actor = get_actor(who, actor_id, Permission.EXECUTE)
        if actor.status == ActorStatus.SHUTTING_DOWN.value:
            raise Conflict(f"Actor {actor_id} is being deleted; it takes no more messages.")
        if actor.status == ActorStatus.ERROR.value:
            raise Conflict(f"Actor {actor_id} is in ERROR and cannot run messages: {actor.status_message}")
        message, content_type = read_message(ctx.cfg.http.max_message_length)
        check_rendered_size(message, content_type, ctx.cfg.http.max_message_length)
        params = {k: request.query.getunicode(k) for k in request.query.keys() if k not in RESERVED_PARAMS}
        execution_id = new_id()
        env = {
            **params,
            "_abaco_username": who.user,
            "_abaco_api_server": api,
            "_abaco_jwt_header_name": "Authorization",
            "_abaco_execution_id": execution_id,
            "_abaco_Content_Type": content_type,
            "_abaco_actor_revision": str(actor.revision),
        }
        Execution(
            db_id=f"{actor.db_id}_{execution_id}",
            execution_id=execution_id,
            actor_dbid=actor.db_id,
            tenant=actor.tenant,
            executor=who.user,
            content_type=content_type,
            message=message,
            params=params,
            message_received_time=utcnow(),
        ).save(force_insert=True)
        mail = MailboxMessage(
            execution_id=execution_id, content_type=content_type, message=message, env=env, executor=who.user
        )
        try:
            MailboxChannel(ctx.broker, actor.db_id).put(mail)
        except ChannelError as exc:
            Execution.objects(db_id=f"{actor.db_id}_{execution_id}").update_one(
                set__status=ExecutionStatus.ERROR.value,
                set__outcome=ExecutionOutcome.NOT_STARTED.value,
                set__status_message=f"message not queued: {exc}",
            )
            raise
        try:
            ensure_one_worker(actor, ctx.broker)
        except AbacoError as exc:  # the message is queued: health restarts work for waiting mailboxes
            log.error("could not request a worker: %s", exc, extra={"actor_id": actor.db_id})
        if _truthy(request.query.get("_abaco_synchronous")):
            return _synchronous_result(actor.db_id, execution_id)
        return ok(
            {
                "execution_id": execution_id,
                "msg": message,
                "_links": links(
                    api,
                    actor.owner,
                    self=f"{actor.actor_id}/executions/{execution_id}",
                    messages=f"{actor.actor_id}/messages",
                ),
            },
            "The request was successful",
        )

    def _synchronous_result(actor_dbid: str, execution_id: str) -> bytes:
        """Wait for the execution and answer with its logs as the raw body (reference 1.5)."""
        ex_dbid = f"{actor_dbid}_{execution_id}"
        timeout = ctx.cfg.http.sync_timeout

        def is_done() -> bool:
            ex = Execution.objects(db_id=ex_dbid).only("status").first()
            return ex is None or ExecutionStatus(ex.status).terminal

        if not wait_done(ctx.redis, ctx.cfg.redis.key_prefix, ex_dbid, timeout, is_done):
            raise WaitTimeout(
                f"Execution {execution_id} did not finish within {timeout} s; it keeps running: "
                f"GET /actors/{actor_dbid.split('_', 1)[1]}/executions/{execution_id} for its status."
            )
        record = Log.objects(db_id=ex_dbid).first()
        response.content_type = "application/octet-stream"
        response.set_header("X-Abaco-Execution-Id", execution_id)
        return (record.logs if record else "").encode()

    @app.get("/actors/<actor_id>/messages")
    def count(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.READ)
        n = MailboxChannel(ctx.broker, actor.db_id).length()
        return ok({"messages": n, "_links": links(api, actor.owner, self=f"{actor.actor_id}/messages")})

    @app.delete("/actors/<actor_id>/messages")
    def purge(actor_id: str) -> dict[str, Any]:
        actor = get_actor(principal(), actor_id, Permission.UPDATE)
        MailboxChannel(ctx.broker, actor.db_id).purge()
        cancel_pending_executions(actor.db_id, "The actor's mailbox was purged.")
        purged_links = links(api, actor.owner, self=f"{actor.actor_id}/messages")
        return ok({"msg": "Actor mailbox purged.", "_links": purged_links})

    return app


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")
