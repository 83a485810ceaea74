"""Entry point: ``python -m abaco_admin`` serves the admin API with waitress."""

from __future__ import annotations

import threading

from abaco_shared.config import Config
from abaco_shared.context import Context
from abaco_shared.server import serve
from abaco_shared.service import Listener, run_service

from .app import make_app


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    app = make_app(ctx.cfg, ctx.auth, ctx.broker, ctx.redis)
    assert ctx.listener is not None
    serve(app, ctx.listener, ctx.cfg.http.threads)


def _listener(cfg: Config) -> Listener:
    return Listener(cfg.http.host, cfg.http.admin_port, 1)


def main() -> int:
    return run_service("admin", _run, with_auth=True, handle_signals=False, serves_http=True, listen_on=_listener)
