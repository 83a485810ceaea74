"""Entry point: ``python -m abaco_messages`` serves the messages API with waitress."""

from __future__ import annotations

import threading

from abaco_shared.context import Context
from abaco_shared.http import serve
from abaco_shared.service import run_service
from abaco_shared.waiters import CompletionSignals

from .app import make_app


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    signals = CompletionSignals(ctx.redis, ctx.cfg.redis.key_prefix)
    app = make_app(ctx.cfg, ctx.auth, ctx.broker, signals)
    # synchronous waits get threads of their own (at most max_sync_waits hold one): the base
    # `threads` always remain for every other request
    threads = ctx.cfg.http.threads + ctx.cfg.http.max_sync_waits
    serve(app, ctx.cfg.http.host, ctx.cfg.http.messages_port, threads)


def main() -> int:
    return run_service("messages", _run, with_auth=True, handle_signals=False, serves_http=True)
