"""What the registration routes need, built once by ``make_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from abaco_shared.broker import Broker
from abaco_shared.config import Config

from .actor_fields import Limits

__all__ = ["RegistrationDeps"]


@dataclass(frozen=True)
class RegistrationDeps:
    cfg: Config
    broker: Broker
    limits: Limits
    redis: Any = None  # shared per-user bounds (limits.UserSlots); None: counted per process

    @property
    def api(self) -> str:
        return self.cfg.general.api_server

    @property
    def queues(self) -> tuple[str, ...]:
        return self.cfg.spawner.queues
