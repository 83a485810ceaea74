"""The common ``main()`` of every daemon and API: config, logging, signals, context, exit codes."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pymongo.errors

from . import prefork
from .config import Config, load_config
from .context import Context, build_context
from .errors import AbacoError, ConfigError
from .runtime import EXIT_CONFIG, EXIT_OK, EXIT_UNAVAILABLE, install_stop_handlers, setup_logging

__all__ = ["run_service", "Listener"]


def run_service(
    name: str,
    body: Callable[[Context, threading.Event], int | None],
    with_auth: bool = False,
    handle_signals: bool = True,
    serves_http: bool = False,
    listen_on: Callable[[Config], Listener] | None = None,
) -> int:
    """Run ``body(ctx, stop)`` with everything a service needs; map failures to exit codes.

    A bad configuration exits with EXIT_CONFIG (restarting will not help); an unreachable broker,
    database or Docker engine exits with EXIT_UNAVAILABLE so that supervisord retries later.
    HTTP services pass ``handle_signals=False``: they are stateless, so the default SIGTERM
    (terminate at once) is right for them; and ``serves_http=True``, so that a request meeting a
    store outage answers 503 within ``http.store_timeout`` instead of waiting. They also pass
    ``listen_on``: the socket is bound here, once, and ``body`` runs in that many processes
    (``prefork``), each with its own connections and the socket as ``ctx.listener``.
    """
    try:
        cfg = load_config()
    except ConfigError as exc:
        print(f"abaco-{name}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(cfg.log.level, name)
    log = logging.getLogger(f"abaco_{name}")
    if listen_on is None:
        return _run_body(cfg, log, body, with_auth, handle_signals, serves_http, None)
    where = listen_on(cfg)
    try:
        sock = prefork.listen(where.host, where.port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", where.host, where.port, exc)
        return EXIT_UNAVAILABLE
    if where.processes <= 1:
        return _run_body(cfg, log, body, with_auth, handle_signals, serves_http, sock)
    pin = cfg.http.pin_processes and not prefork.cpu_quota()  # a container's CPU limit: not pinned
    cores = prefork.cores_for(where.processes, where.first_core) if pin else None
    return prefork.run_children(
        where.processes, lambda _: _run_body(cfg, log, body, with_auth, handle_signals, serves_http, sock), cores
    )


@dataclass(frozen=True)
class Listener:
    """Where an API listens, in how many processes, and from which core they are placed (one
    each, when ``http.pin_processes``: ``prefork.cores_for``)."""

    host: str
    port: int
    processes: int = 1
    first_core: int = 0


def _run_body(
    cfg: Config,
    log: logging.Logger,
    body: Callable[[Context, threading.Event], int | None],
    with_auth: bool,
    handle_signals: bool,
    serves_http: bool,
    listener: socket.socket | None,
) -> int:
    stop = install_stop_handlers() if handle_signals else threading.Event()
    try:
        ctx = build_context(cfg, with_auth=with_auth, serves_http=serves_http)
    except ConfigError as exc:  # e.g. a key file that cannot be used: restarting will not help
        log.error("cannot start: %s", exc)
        return EXIT_CONFIG
    except AbacoError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_UNAVAILABLE
    ctx.listener = listener
    try:
        code = body(ctx, stop)
        return EXIT_OK if code is None else code
    except (AbacoError, pymongo.errors.PyMongoError) as exc:
        log.error("stopped on an unrecoverable error: %s", exc)
        return EXIT_UNAVAILABLE
    finally:
        ctx.close()
