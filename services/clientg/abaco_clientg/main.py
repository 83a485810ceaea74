"""Entry point: ``python -m abaco_clientg`` consumes the clients channel."""

from __future__ import annotations

import threading

from abaco_shared.context import Context
from abaco_shared.service import run_service

from .clients import ClientGenerator


def _run(ctx: Context, stop: threading.Event) -> None:
    ClientGenerator(ctx.broker, ctx.redis, ctx.cfg.redis.key_prefix).run(stop)


def main() -> int:
    return run_service("clientg", _run)
