"""Entry point: ``python -m abaco_messages`` serves the messages API with waitress."""

from __future__ import annotations

import threading

from abaco_shared.config import Config
from abaco_shared.context import Context
from abaco_shared.limits import SyncGate, UserSlots
from abaco_shared.server import serve
from abaco_shared.service import Listener, run_service
from abaco_shared.waiters import CompletionSignals

from .app import make_app


def _run(ctx: Context, stop: threading.Event) -> None:
    assert ctx.auth is not None
    signals = CompletionSignals(ctx.redis, ctx.cfg.redis.key_prefix)
    http = ctx.cfg.http
    # the total bounds this process's threads; a user's bound holds across every messages process
    slots = UserSlots(ctx.redis, ctx.cfg.redis.key_prefix, "sync", lease=http.sync_timeout + 60)
    gate = SyncGate(http.max_sync_waits, http.max_sync_waits_per_user, slots)
    app = make_app(ctx.cfg, ctx.auth, ctx.broker, signals, gate)
    # synchronous waits get threads of their own (at most max_sync_waits hold one): the base
    # `threads` always remain for every other request
    threads = ctx.cfg.http.threads + ctx.cfg.http.max_sync_waits
    assert ctx.listener is not None
    serve(app, ctx.listener, threads)


def _listener(cfg: Config) -> Listener:
    # its processes' cores follow the registration API's (http.pin_processes)
    return Listener(cfg.http.host, cfg.http.messages_port, cfg.http.processes, first_core=cfg.http.processes)


def main() -> int:
    return run_service("messages", _run, with_auth=True, handle_signals=False, serves_http=True, listen_on=_listener)
