"""Connections to MongoDB (the records) and Redis (what is hot and short-lived). Nothing at import."""

from __future__ import annotations

import logging

import mongoengine
import redis

from .config import MongoConfig, RedisConfig
from .idempotency import IdempotencyRecord
from .models import Actor, ActorConfig, Alias, Execution, Log, Nonce, PermissionRecord, Worker
from .results import Result

__all__ = ["connect_mongo", "disconnect_mongo", "connect_redis", "ensure_indexes", "trust_indexes"]

log = logging.getLogger(__name__)


def connect_mongo(cfg: MongoConfig, db: str | None = None, timeout_ms: int | None = None) -> None:
    """Register the default mongoengine connection (lazy: pymongo connects on first use).
    ``timeout_ms`` (default ``cfg.timeout_ms``): how long an operation waits for an unreachable
    server before it fails (server selection and connect)."""
    timeout_ms = cfg.timeout_ms if timeout_ms is None else timeout_ms
    credentials = {"username": cfg.user, "password": cfg.password, "authSource": cfg.auth_source}
    mongoengine.connect(
        db=db or cfg.db,
        host=cfg.url,
        **(credentials if cfg.password else {}),
        alias="default",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        tz_aware=False,
        uuidRepresentation="standard",
    )


def disconnect_mongo() -> None:
    mongoengine.disconnect(alias="default")


DOCUMENTS = (Actor, Worker, Execution, Log, PermissionRecord, Alias, Nonce, ActorConfig, Result, IdempotencyRecord)


def ensure_indexes() -> None:
    """Build declared indexes; called by services at start, never at import."""
    for doc in DOCUMENTS:
        doc.ensure_indexes()


def trust_indexes() -> None:
    """This process's first use of each collection skips mongoengine's index check (one
    createIndexes round trip per collection, and work for MongoDB: about 10 ms of each worker's
    start). For processes started by a service that built them at its own start (a spawner's
    workers)."""
    for doc in DOCUMENTS:
        doc._meta["auto_create_index"] = False


def connect_redis(cfg: RedisConfig, timeout: float = 5) -> redis.Redis:
    credentials = {"username": cfg.user, "password": cfg.password} if cfg.password else {}
    return redis.Redis.from_url(
        cfg.url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        max_connections=cfg.max_connections,  # redis-py's default pool stops at 100
        **credentials,
    )
