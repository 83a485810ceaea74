"""clientg: answers credential requests for workers on the clients channel.

This foundation records which worker holds a client and replies; minting real credentials and
revoking them is the identity issue's work, on this same request/reply path.
"""

from __future__ import annotations

import logging
import threading

from abaco_shared.broker import Message
from abaco_shared.channels import ClientsChannel
from abaco_shared.context import Context
from abaco_shared.errors import ValidationError
from abaco_shared.messages import ClientReply, ClientRequest

__all__ = ["ClientGenerator"]

log = logging.getLogger(__name__)


class ClientGenerator:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.channel = ClientsChannel(ctx.broker)

    def run(self, stop: threading.Event) -> None:
        self.ctx.broker.consume([self.channel.queue], self._on_request, stop, prefetch=1)

    def handle(self, req: ClientRequest) -> ClientReply:
        key = f"{self.ctx.cfg.redis.key_prefix}client:{req.tenant}:{req.worker_id}"
        if req.command == "new":
            client_id = f"{req.tenant}_{req.worker_id}"
            self.ctx.redis.hset(key, mapping={"client_id": client_id, "actor_id": req.actor_id})
            return ClientReply(status="ok", client_id=client_id)
        if req.command == "delete":
            self.ctx.redis.delete(key)
            return ClientReply(status="ok", client_id=req.client_id)
        return ClientReply(status="error", message=f"unknown command {req.command!r}")

    def _on_request(self, body: dict, message: Message) -> None:
        try:
            reply = self.handle(ClientRequest.from_dict(body))
        except ValidationError as exc:
            reply = ClientReply(status="error", message=str(exc))
        reply_to = message.properties.get("reply_to")
        correlation_id = message.properties.get("correlation_id", "")
        if reply_to:
            self.channel.reply(reply_to, correlation_id, reply)
        else:
            log.warning("client request without a reply queue dropped")
        message.ack()
