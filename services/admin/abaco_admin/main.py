"""Entry point: ``python -m abaco_admin`` serves the admin API with waitress."""

from __future__ import annotations

import threading

from abaco_shared.context import Context
from abaco_shared.http import serve
from abaco_shared.service import run_service

from .app import make_app


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    app = make_app(ctx.cfg, ctx.auth, ctx.broker, ctx.redis)
    serve(app, ctx.cfg.http.host, ctx.cfg.http.admin_port, ctx.cfg.http.threads)


def main() -> int:
    return run_service("admin", _run, with_auth=True, handle_signals=False, serves_http=True)
