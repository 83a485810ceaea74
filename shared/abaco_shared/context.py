"""The dependencies a service needs, built once in ``main()`` and passed down explicitly."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import mongoengine
import pymongo.errors
import redis

from . import readcache
from .auth import Authenticator
from .broker import Broker
from .config import Config
from .store import connect_mongo, connect_redis
from .versionwatch import VersionWatch

__all__ = ["Context", "build_context", "watch_versions", "warm_up"]


@dataclass
class Context:
    cfg: Config
    broker: Broker
    redis: redis.Redis
    auth: Authenticator | None = None
    listener: socket.socket | None = None  # an API's listening socket (bound before any fork)

    def close(self) -> None:
        self.broker.close()
        self.redis.close()


READ_CACHE_TIMEOUT = 0.5  # s: the read cache's Redis calls; slower than that, MongoDB answers instead
WORKER_IDLE_RESET = 600.0  # s: a worker's version watch outlives its idle spells
API_BROKER_RETRIES = 1  # one more try, 2 s later: an API answers 503 rather than wait


def watch_versions(cfg: Config, *keys: str) -> None:
    """Have this process's read cache hear from Redis when these objects' versions change, rather
    than read them at every use: a worker's own few (its actor's, its tenant's configs'), read
    for every message it takes. Its backlog stays small, so an idle worker keeps the connection
    (``idle_reset``) instead of reopening it for its next message. A no-op without a read cache
    or when the process watches already."""
    cache = readcache.active()
    if cache is None or cache.watch is not None or not keys:
        return
    prefixes = tuple(cache.prefix + key for key in keys)
    cache.watch = VersionWatch(
        cfg.redis.url, prefixes, username=cfg.redis.user, password=cfg.redis.password, idle_reset=WORKER_IDLE_RESET
    )


def build_context(cfg: Config, with_auth: bool = False, serves_http: bool = False) -> Context:
    """The connections of one process. ``serves_http``: an API, whose requests fail fast (503)
    while a store is down (``http.store_timeout``, one broker retry) where a daemon waits."""
    connect_mongo(cfg.mongo, timeout_ms=int(cfg.http.store_timeout * 1000) if serves_http else None)
    retries = min(API_BROKER_RETRIES, cfg.rabbit.connect_retries) if serves_http else cfg.rabbit.connect_retries
    confirm_timeout = (
        min(cfg.rabbit.confirm_timeout, cfg.http.store_timeout) if serves_http else cfg.rabbit.confirm_timeout
    )
    broker = Broker(
        cfg.rabbit.broker_url(), retries=retries, prefix=cfg.rabbit.queue_prefix, confirm_timeout=confirm_timeout
    )
    auth = Authenticator.from_config(cfg) if with_auth else None
    # every process that writes actors or permissions bumps their versions; the APIs also read
    client = connect_redis(cfg.redis, timeout=READ_CACHE_TIMEOUT)
    cache: readcache.ReadCache[object] = readcache.ReadCache(client, prefix=cfg.redis.key_prefix)
    if serves_http:  # an API reads versions at every request: Redis tells it when they change
        cache.watch = VersionWatch(cfg.redis.url, cache.prefix, username=cfg.redis.user, password=cfg.redis.password)
    readcache.install(cache)
    return Context(cfg=cfg, broker=broker, redis=connect_redis(cfg.redis), auth=auth)


def warm_up(ctx: Context) -> threading.Thread:
    """Connect and authenticate the process's MongoDB and Redis clients now, in a thread of its
    own: each connects at its first use, and a starting worker has other round trips to make
    meanwhile (MongoDB's SCRAM alone takes several). A failure is left for that first use to
    report."""
    clients = [ctx.redis] + [cache.client for cache in (readcache.active(),) if cache is not None]

    def ping() -> None:
        try:
            mongoengine.get_db().command("ping")
        except pymongo.errors.PyMongoError:
            pass
        for client in clients:
            try:
                client.ping()
            except redis.exceptions.RedisError:
                pass

    thread = threading.Thread(target=ping, name="warm-up", daemon=True)
    thread.start()
    return thread
