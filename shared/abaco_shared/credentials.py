"""Worker credentials recorded by clientg (Redis hashes). The only module that builds their keys."""

from __future__ import annotations

import redis

__all__ = ["key_for", "client_id_for", "record", "forget", "lookup"]


def key_for(prefix: str, tenant: str, worker_id: str) -> str:
    return f"{prefix}client:{tenant}:{worker_id}"


def client_id_for(tenant: str, worker_id: str) -> str:
    return f"{tenant}_{worker_id}"


def record(client: redis.Redis, prefix: str, tenant: str, worker_id: str, actor_dbid: str) -> str:
    """Record a credential for a worker; returns its client id."""
    client_id = client_id_for(tenant, worker_id)
    client.hset(key_for(prefix, tenant, worker_id), mapping={"client_id": client_id, "actor_dbid": actor_dbid})
    return client_id


def forget(client: redis.Redis, prefix: str, tenant: str, worker_id: str) -> None:
    client.delete(key_for(prefix, tenant, worker_id))


def lookup(client: redis.Redis, prefix: str, tenant: str, worker_id: str) -> dict[str, str]:
    return dict(client.hgetall(key_for(prefix, tenant, worker_id)))  # type: ignore[arg-type]
