"""clientg: answers credential requests for workers on the clients channel.

This foundation records which worker holds a client and replies; minting real credentials and
revoking them is the identity issue's work, on this same request/reply path.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

from abaco_shared import credentials
from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import ClientsChannel
from abaco_shared.errors import ValidationError
from abaco_shared.messages import ClientReply, ClientRequest

__all__ = ["ClientGenerator"]

log = logging.getLogger(__name__)


class ClientGenerator:
    """Consumes ``clients`` and answers each request on its reply queue."""

    def __init__(self, broker: Broker, store: redis.Redis, key_prefix: str) -> None:
        self.broker = broker
        self.store = store
        self.prefix = key_prefix
        self.channel = ClientsChannel(broker)

    def run(self, stop: threading.Event) -> None:
        self.broker.consume([self.channel.queue], self.on_request, stop, prefetch=1)

    def handle(self, req: ClientRequest) -> ClientReply:
        if req.command == "new":
            client_id = credentials.record(self.store, self.prefix, req.tenant, req.worker_id, req.actor_dbid)
            return ClientReply(status="ok", client_id=client_id)
        if req.command == "delete":
            credentials.forget(self.store, self.prefix, req.tenant, req.worker_id)
            return ClientReply(status="ok", client_id=req.client_id)
        return ClientReply(status="error", message=f"unknown command {req.command!r}")

    def on_request(self, body: dict[str, Any], delivery: Delivery) -> None:
        try:
            reply = self.handle(ClientRequest.from_dict(body))
        except ValidationError as exc:
            reply = ClientReply(status="error", message=str(exc))
        reply_to = delivery.properties.get("reply_to")
        correlation_id = delivery.properties.get("correlation_id", "")
        if reply_to:
            self.channel.reply(reply_to, correlation_id, reply)
        else:
            log.warning("client request without a reply queue dropped")
        delivery.ack()
