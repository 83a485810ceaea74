"""Entry point: ``python -m abaco_registration`` serves the registration API with waitress."""

from __future__ import annotations

import threading

from abaco_shared.context import Context
from abaco_shared.http import serve
from abaco_shared.service import run_service
from abaco_shared.store import ensure_indexes

from .app import make_app


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    ensure_indexes()
    app = make_app(ctx.cfg, ctx.auth, ctx.broker)
    # log follows get threads of their own (at most max_log_follows hold one): the base
    # `threads` always remain for every other request
    threads = ctx.cfg.http.threads + ctx.cfg.http.max_log_follows
    serve(app, ctx.cfg.http.host, ctx.cfg.http.registration_port, threads)


def main() -> int:
    return run_service("registration", _run, with_auth=True, handle_signals=False, serves_http=True)
