"""The dependencies a service needs, built once in ``main()`` and passed down explicitly."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from .auth import Authenticator
from .broker import Broker
from .config import Config
from .store import connect_mongo, connect_redis

__all__ = ["Context", "build_context"]


@dataclass
class Context:
    cfg: Config
    broker: Broker
    redis: redis.Redis
    auth: Authenticator | None = None

    def close(self) -> None:
        self.broker.close()
        self.redis.close()


def build_context(cfg: Config, with_auth: bool = False) -> Context:
    connect_mongo(cfg.mongo)
    broker = Broker(cfg.rabbit.broker_url(), retries=cfg.rabbit.connect_retries, prefix=cfg.rabbit.queue_prefix)
    auth = Authenticator.from_config(cfg) if with_auth else None
    return Context(cfg=cfg, broker=broker, redis=connect_redis(cfg.redis), auth=auth)
