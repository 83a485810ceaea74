"""Entry point: ``python -m abaco_clientg`` consumes the clients channel.

clientg is the one daemon that loads the tenants' signing keys besides the APIs: it mints the
actors' access tokens, so worker hosts never need them.
"""

from __future__ import annotations

import threading

from abaco_shared.context import Context
from abaco_shared.service import run_service

from .clients import ClientGenerator


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    cfg = ctx.cfg
    ClientGenerator(ctx.broker, ctx.redis, cfg.redis.key_prefix, ctx.auth, cfg.auth.actor_token_ttl).run(stop)


def main() -> int:
    return run_service("clientg", _run, with_auth=True)
