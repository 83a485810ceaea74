"""Entry point: ``python -m abaco_registration`` serves the registration API with waitress."""

from __future__ import annotations

import threading

from abaco_shared.config import Config
from abaco_shared.context import Context
from abaco_shared.server import serve
from abaco_shared.service import Listener, run_service
from abaco_shared.store import ensure_indexes

from .app import make_app


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    ensure_indexes()
    app = make_app(ctx.cfg, ctx.auth, ctx.broker, ctx.redis)
    # log follows get threads of their own (at most max_log_follows hold one): the base
    # `threads` always remain for every other request
    threads = ctx.cfg.http.threads + ctx.cfg.http.max_log_follows
    assert ctx.listener is not None
    serve(app, ctx.listener, threads)


def _listener(cfg: Config) -> Listener:
    return Listener(cfg.http.host, cfg.http.registration_port, cfg.http.processes)


def main() -> int:
    return run_service(
        "registration", _run, with_auth=True, handle_signals=False, serves_http=True, listen_on=_listener
    )
