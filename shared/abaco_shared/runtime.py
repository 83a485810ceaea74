"""Process plumbing shared by every daemon: structured logging and stop handling."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["setup_logging", "install_stop_handlers", "pid_alive", "EXIT_OK", "EXIT_CONFIG", "EXIT_UNAVAILABLE"]

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
