"""What a worker's control thread and its main loop share, behind one lock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["WorkerState"]


@dataclass
class WorkerState:
    """The running execution and container, and whether a stop or force-quit was asked for.

    The control thread (worker channel) writes ``stop_command``/``force_quit``; the execution
    runner writes ``execution_id``/``container_id``. Read and write them under ``lock``.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    execution_id: str = ""
    container_id: str = ""
    stop_command: str = ""  # "stop" or "stop-no-delete" once asked ("cancelled" if never started)
    force_quit: bool = False

    def begin(self, execution_id: str) -> None:
        """A new execution starts: a force-quit asked for an earlier one no longer applies, but a
        ``stop`` (the actor is going away) that arrived meanwhile does."""
        with self.lock:
            self.execution_id = execution_id
            self.container_id = ""
            self.force_quit = self.stop_command == "stop"

    def started(self, container_id: str) -> bool:
        """Record the running container; True when a force-quit was asked for before it started."""
        with self.lock:
            self.container_id = container_id
            return self.force_quit

    def end(self) -> None:
        with self.lock:
            self.execution_id = ""
            self.container_id = ""

    def request_force_quit(self, execution_id: str = "") -> str:
        """Flag a force-quit of ``execution_id`` (any when empty); the container to stop, or ""."""
        with self.lock:
            if execution_id and execution_id != self.execution_id:
                return ""
            self.force_quit = True
            return self.container_id

    def was_forced(self) -> bool:
        with self.lock:
            return self.force_quit

    def request_stop(self, command: str) -> None:
        with self.lock:
            self.stop_command = command

    def stopping(self) -> str:
        with self.lock:
            return self.stop_command
