"""clientg: worker credentials and actor access tokens, over the clients channel.

Only clientg holds the tenants' signing keys; worker hosts hold a per-worker credential instead,
which they trade for a short-lived token before each execution of an actor with ``token`` on:

- ``new`` (spawner, before it launches a worker): record a credential for the worker, its secret
  hashed, and reply the client id and the secret. Only for an actor with ``token`` on whose worker
  is being started, so the channel cannot be used to get a credential for any actor.
- ``token`` (worker, before an execution): check the client id and secret, then mint a token for
  the actor's owner in the actor's tenant, with the ``user`` role only (never the owner's admin or
  privileged role) and an ``abaco_actor`` claim, for at most ``max_ttl`` seconds.
- ``delete`` (worker on exit, health when it reaps a worker): revoke the credential.

Every refusal is an ``error`` reply that says why; nothing is minted for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

from abaco_shared import actors, credentials, workers
from abaco_shared.auth import Authenticator
from abaco_shared.broker import Broker, Delivery
from abaco_shared.channels import ClientsChannel
from abaco_shared.enums import Role, WorkerStatus
from abaco_shared.errors import AbacoError
from abaco_shared.messages import ClientReply, ClientRequest

__all__ = ["ClientGenerator", "ACTOR_CLAIM", "WORKER_CLAIM"]

log = logging.getLogger(__name__)

ACTOR_CLAIM = "abaco_actor"  # the actor id an actor token was minted for
WORKER_CLAIM = "abaco_worker"
MIN_TTL = 60  # a token shorter than this would expire before a container has started


def _error(message: str) -> ClientReply:
    return ClientReply(status="error", message=message)


class ClientGenerator:
    """Consumes ``clients`` and answers each request on its reply queue."""

    def __init__(
        self,
        broker: Broker,
        store: redis.Redis,
        key_prefix: str,
        authenticator: Authenticator,
        max_ttl: int = 900,
    ) -> None:
        self.broker = broker
        self.store = store
        self.prefix = key_prefix
        self.authenticator = authenticator
        self.max_ttl = max_ttl
        self.channel = ClientsChannel(broker)

    def run(self, stop: threading.Event) -> None:
        self.broker.consume([self.channel.queue], self.on_request, stop, prefetch=1)

    def handle(self, req: ClientRequest) -> ClientReply:
        if req.command == "new":
            return self.new(req)
        if req.command == "token":
            return self.token(req)
        if req.command == "delete":
            revoked = credentials.forget(self.store, self.prefix, req.tenant, req.worker_id)
            if revoked:
                log.info("credential revoked", extra={"worker_id": req.worker_id, "actor_id": req.actor_dbid})
            return ClientReply(status="ok", client_id=req.client_id)
        return _error(f"unknown command {req.command!r}")

    def new(self, req: ClientRequest) -> ClientReply:
        """A credential for a worker being started for an actor with ``token`` on."""
        actor = actors.get(req.actor_dbid)
        if actor is None or actor.tenant != req.tenant:
            return _error(f"no actor {req.actor_dbid!r} in tenant {req.tenant!r}")
        if not actor.token:
            return _error(f"actor {actor.actor_id} does not use tokens")
        worker = workers.get_for_actor(actor.db_id, req.worker_id)
        if worker is None or WorkerStatus(worker.status) not in WorkerStatus.starting():
            return _error(f"worker {req.worker_id!r} of actor {actor.actor_id} is not being started")
        client_id, secret = credentials.record(self.store, self.prefix, req.tenant, req.worker_id, actor.db_id)
        log.info("credential issued", extra={"worker_id": req.worker_id, "actor_id": actor.db_id})
        return ClientReply(status="ok", client_id=client_id, secret=secret)

    def token(self, req: ClientRequest) -> ClientReply:
        """A short-lived token for the next execution of the credential's actor."""
        actor_dbid = credentials.verify(self.store, self.prefix, req.tenant, req.worker_id, req.client_id, req.secret)
        if actor_dbid is None:
            log.warning("token refused: unknown, revoked or wrong credential", extra={"worker_id": req.worker_id})
            return _error("unknown or revoked credential")
        actor = actors.get(actor_dbid)
        if actor is None or not actor.token:
            return _error("the credential's actor is gone or no longer uses tokens")
        if workers.get_for_actor(actor_dbid, req.worker_id) is None:  # its revocation was lost
            credentials.forget(self.store, self.prefix, req.tenant, req.worker_id)
            return _error("the credential's worker is gone; the credential is revoked")
        ttl = self.max_ttl if req.ttl <= 0 else max(MIN_TTL, min(req.ttl, self.max_ttl))
        claims = {ACTOR_CLAIM: actor.actor_id, WORKER_CLAIM: req.worker_id}
        try:
            token = self.authenticator.mint(actor.owner, actor.tenant, [Role.USER], ttl=ttl, extra=claims)
        except AbacoError as exc:  # e.g. a tenant whose key here can only verify
            return _error(f"cannot mint a token for tenant {actor.tenant!r}: {exc}")
        return ClientReply(status="ok", client_id=req.client_id, token=token)

    def on_request(self, body: dict[str, Any], delivery: Delivery) -> None:
        try:
            reply = self.handle(ClientRequest.from_dict(body))
        except AbacoError as exc:  # a bad body (ValidationError) or a key that cannot sign
            reply = _error(str(exc))
        except Exception:  # a store error: answer rather than leave the caller to time out
            log.exception("client request failed")
            reply = _error("clientg could not handle the request")
        reply_to = delivery.properties.get("reply_to")
        correlation_id = delivery.properties.get("correlation_id", "")
        if reply_to:
            self.channel.reply(reply_to, correlation_id, reply)
        elif reply.status != "ok":
            log.warning("client request without a reply queue failed: %s", reply.message)
        delivery.ack()
