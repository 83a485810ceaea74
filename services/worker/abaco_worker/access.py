"""Access tokens for the executions of actors with ``token`` on, obtained from clientg.

The worker holds a per-worker credential (from the spawner, in its process environment), never a
tenant's signing key: before each execution it trades the credential for a short-lived token
that clientg mints for the actor's owner. The token goes into the container as
``_abaco_access_token``; the credential never does. Failing to get one is not fatal: the
execution runs with an empty token and the worker log says why. Actors without ``token`` never
cause a round trip.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from abaco_shared.actors import split_key
from abaco_shared.channels import ClientsChannel
from abaco_shared.credentials import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from abaco_shared.errors import AbacoError
from abaco_shared.messages import ClientRequest
from abaco_shared.models import Actor

__all__ = ["WorkerCredential", "AccessTokens"]

log = logging.getLogger(__name__)

REVOKE_TIMEOUT = 5.0  # an exiting worker does not wait long: an unanswered revocation stays queued


@dataclass(frozen=True)
class WorkerCredential:
    client_id: str
    secret: str = field(repr=False)

    @classmethod
    def take_from(cls, environ: MutableMapping[str, str]) -> WorkerCredential | None:
        """The credential the spawner passed, removed from the environment (nothing this
        process starts inherits it)."""
        client_id = environ.pop(CLIENT_ID_ENV, "")
        secret = environ.pop(CLIENT_SECRET_ENV, "")
        return cls(client_id, secret) if client_id and secret else None

    @classmethod
    def from_process(cls) -> WorkerCredential | None:
        return cls.take_from(os.environ)


class AccessTokens:
    """One worker's side of the clients channel: tokens before executions, revocation on exit."""

    def __init__(
        self,
        clients: ClientsChannel,
        actor_dbid: str,
        worker_id: str,
        credential: WorkerCredential | None,
        timeout: float = 10.0,
    ) -> None:
        self.clients = clients
        self.actor_dbid = actor_dbid
        self.tenant = split_key(actor_dbid)[0]
        self.worker_id = worker_id
        self.credential = credential
        self.timeout = timeout
        self.log_extra = {"worker_id": worker_id, "actor_id": actor_dbid}

    def _request(self, command: str, **fields: object) -> ClientRequest:
        cred = self.credential
        return ClientRequest(
            command=command,
            tenant=self.tenant,
            actor_dbid=self.actor_dbid,
            worker_id=self.worker_id,
            client_id=cred.client_id if cred else "",
            secret=cred.secret if cred else "",
            **fields,  # type: ignore[arg-type]
        )

    def for_execution(self, actor: Actor, run_time: int) -> str:
        """A token for one execution of ``actor`` (lasting about ``run_time`` seconds, within
        clientg's cap), or "" when the actor does not use tokens or none could be had."""
        if not actor.token:
            return ""
        if self.credential is None:
            log.warning("actor uses tokens but this worker has no credential: empty token", extra=self.log_extra)
            return ""
        try:
            reply = self.clients.request(self._request("token", ttl=max(run_time, 0)), self.timeout)
        except AbacoError as exc:
            log.warning("no token from clientg (%s): empty token", exc, extra=self.log_extra)
            return ""
        if reply.status != "ok" or not reply.token:
            log.warning("clientg refused a token (%s): empty token", reply.message, extra=self.log_extra)
            return ""
        return reply.token

    def revoke(self) -> None:
        """Ask clientg to revoke this worker's credential (on exit); never raises."""
        if self.credential is None:
            return
        try:
            reply = self.clients.request(self._request("delete"), min(self.timeout, REVOKE_TIMEOUT))
            if reply.status != "ok":
                log.warning("clientg did not revoke the credential: %s", reply.message, extra=self.log_extra)
        except AbacoError as exc:  # the request stays queued: clientg revokes it when it is back
            log.warning("no answer to the credential's revocation: %s", exc, extra=self.log_extra)
        self.credential = None
