"""A worker's credential from clientg (request/reply on the clients channel), asked for just
before the worker of an actor with ``token`` on is launched, and revoked when it goes unused."""

from __future__ import annotations

import logging

from abaco_shared.channels import ClientsChannel
from abaco_shared.credentials import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from abaco_shared.errors import AbacoError
from abaco_shared.messages import ClientRequest, SpawnCommand

__all__ = ["WorkerCredentials"]

log = logging.getLogger(__name__)


class WorkerCredentials:
    def __init__(self, clients: ClientsChannel, timeout: float) -> None:
        self.clients = clients
        self.timeout = timeout  # seconds to wait for clientg's answer

    def issue(self, cmd: SpawnCommand) -> dict[str, str]:
        """Ask clientg for the worker's credential; {} (and a warning) when none comes."""
        extra = {"actor_id": cmd.actor_dbid, "worker_id": cmd.worker_id}
        req = ClientRequest(command="new", tenant=cmd.tenant, actor_dbid=cmd.actor_dbid, worker_id=cmd.worker_id)
        try:
            reply = self.clients.request(req, self.timeout)
        except AbacoError as exc:
            log.warning("no credential from clientg; the worker starts without one: %s", exc, extra=extra)
            self.revoke(cmd)  # clientg may still record it later: revoke it behind that request
            return {}
        if reply.status != "ok" or not reply.client_id or not reply.secret:
            log.warning("clientg refused a credential: %s", reply.message, extra=extra)
            return {}
        return {CLIENT_ID_ENV: reply.client_id, CLIENT_SECRET_ENV: reply.secret}

    def revoke(self, cmd: SpawnCommand) -> None:
        req = ClientRequest(command="delete", tenant=cmd.tenant, actor_dbid=cmd.actor_dbid, worker_id=cmd.worker_id)
        try:
            self.clients.tell(req)
        except AbacoError as exc:
            log.warning("could not ask clientg to revoke a credential: %s", exc, extra={"worker_id": cmd.worker_id})
