"""Process plumbing shared by every daemon: structured logging and stop handling."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

__all__ = [
    "setup_logging",
    "install_stop_handlers",
    "pid_alive",
    "worker_process",
    "spawner_token",
    "spawner_alive",
    "spawner_may_be_alive",
    "WORKER_ID_ENV",
    "EXIT_OK",
    "EXIT_CONFIG",
    "EXIT_UNAVAILABLE",
]

EXIT_OK = 0
EXIT_CONFIG = 2  # bad configuration: restarting will not help
EXIT_UNAVAILABLE = 3  # a backing service is unreachable: supervisord restarts us

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """``time level service logger: message key=value ...`` with the record's extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)s " + service + " %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        if extras:
            base += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return base


def setup_logging(level: str, service: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(KeyValueFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("amqp", "kombu", "urllib3", "docker", "apscheduler", "waitress.queue"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def install_stop_handlers() -> threading.Event:
    """First SIGTERM/SIGINT sets the returned event (a warm stop); a second one exits at once."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise SystemExit(1)
        logging.getLogger(__name__).info("stopping on signal %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def pid_alive(pid: int | None) -> bool:
    """True when a process with this pid exists on this host and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); its state in /proc says Z
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


WORKER_ID_ENV = "ABACO_WORKER_ID"  # in a worker process's environment (set by the spawner's launcher)
SPAWNER_MARKER = b"abaco_spawner"  # in a spawner process's command line (python -m abaco_spawner)


def _is_worker(pid: int, worker_id: str) -> bool | None:
    """Whether process ``pid`` is worker ``worker_id``: its environment names it (a worker started
    with ``python -m abaco_worker``), or its name is the worker id (one forked by the zygote,
    whose environment in /proc is the zygote's); None when neither is readable."""
    entry = f"{WORKER_ID_ENV}={worker_id}".encode()
    readable = False
    try:
        if entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return True
        readable = True
    except OSError:
        pass
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() == worker_id[:15]:
            return True
        readable = True
    except OSError:
        pass
    return False if readable else None


def worker_process(worker_id: str, pid: int | None = None) -> int | None:
    """The live process of worker ``worker_id`` on this host, or None.

    With a recorded ``pid``: that pid, if it is alive and (when /proc says) that worker's.
    Without one (a spawner died between launching a worker and recording its pid): the process
    found in /proc that is that worker.
    """
    if pid:
        return pid if pid_alive(pid) and _is_worker(pid, worker_id) is not False else None
    try:
        pids = [int(d.name) for d in os.scandir("/proc") if d.name.isdigit()]
    except OSError:
        return None
    for candidate in pids:
        if candidate != os.getpid() and _is_worker(candidate, worker_id) and pid_alive(candidate):
            return candidate
    return None


def spawner_token(host_id: str) -> str:
    """How a spawner process names itself in the worker records it is starting."""
    return f"{host_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def spawner_alive(token: str, host_id: str) -> bool:
    """True when ``token`` names a spawner process of this host that is still running (a spawner of
    another host, or an empty token, is never known to be alive)."""
    try:
        host, pid_text, _ = token.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != host_id or not pid_alive(pid):
        return False
    try:
        return SPAWNER_MARKER in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"-", b"_")
    except OSError:
        return True  # alive, but its command line is not ours to read


def spawner_may_be_alive(token: str, host_id: str) -> bool:
    """True when ``token`` names a live spawner of this host, or a spawner of another host (whose
    processes this host cannot see: that host's health judges it). False for an empty token."""
    host = token.rsplit(":", 2)[0] if token.count(":") >= 2 else ""
    if host and host != host_id:
        return True
    return spawner_alive(token, host_id)
