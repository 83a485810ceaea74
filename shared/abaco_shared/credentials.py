"""Worker credentials recorded by clientg (Redis hashes). The only module that builds their keys.

A credential lets one worker ask clientg for access tokens for its actor. Only the SHA-256 of its
secret is stored: the secret is 32 random bytes, so a plain hash is as good as a slow one, and a
reader of Redis learns nothing it could present. Revoking it is deleting the record.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import redis

__all__ = ["key_for", "client_id_for", "record", "verify", "forget", "lookup", "CLIENT_ID_ENV", "CLIENT_SECRET_ENV"]

# how a spawner hands a worker process its credential: in that process's environment only
CLIENT_ID_ENV = "ABACO_CLIENT_ID"
CLIENT_SECRET_ENV = "ABACO_CLIENT_SECRET"


def key_for(prefix: str, tenant: str, worker_id: str) -> str:
    return f"{prefix}client:{tenant}:{worker_id}"


def client_id_for(tenant: str, worker_id: str) -> str:
    return f"{tenant}_{worker_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def record(client: redis.Redis, prefix: str, tenant: str, worker_id: str, actor_dbid: str) -> tuple[str, str]:
    """Record a new credential for a worker (replacing any earlier one); returns ``(client id,
    secret)``. The secret is returned once and never stored."""
    client_id = client_id_for(tenant, worker_id)
    secret = secrets.token_urlsafe(32)
    mapping = {"client_id": client_id, "actor_dbid": actor_dbid, "secret_sha256": _digest(secret)}
    client.hset(key_for(prefix, tenant, worker_id), mapping=mapping)  # type: ignore[arg-type]
    return client_id, secret


def verify(client: redis.Redis, prefix: str, tenant: str, worker_id: str, client_id: str, secret: str) -> str | None:
    """The actor key the credential was issued for, or None when it is unknown, revoked, or the
    client id or secret is wrong (compared in constant time)."""
    stored = lookup(client, prefix, tenant, worker_id)
    digest = stored.get("secret_sha256", "")
    if not digest or not secret or stored.get("client_id") != client_id:
        return None
    if not hmac.compare_digest(digest, _digest(secret)):
        return None
    return stored.get("actor_dbid") or None


def forget(client: redis.Redis, prefix: str, tenant: str, worker_id: str) -> bool:
    """Revoke a worker's credential; True when there was one."""
    return bool(client.delete(key_for(prefix, tenant, worker_id)))


def lookup(client: redis.Redis, prefix: str, tenant: str, worker_id: str) -> dict[str, str]:
    return dict(client.hgetall(key_for(prefix, tenant, worker_id)))  # type: ignore[arg-type]
