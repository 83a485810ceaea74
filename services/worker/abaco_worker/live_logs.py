"""Logs while a container runs: its output so far, copied to the execution's logs record.

``GET .../executions/{eid}/logs`` reads the logs record, which the runner writes once, when the
container exits. For a container that runs longer than ``interval`` seconds, one thread per
worker process copies the output so far (cut at ``max_log_length`` with the same marker as the
final copy) into that record every ``interval`` seconds, and only when it changed; once the
output has reached the cap it cannot change, and the copies stop.

Most executions last a fraction of a second and pay nothing but :meth:`LiveLogs.watch` and
:meth:`LiveLogs.unwatch` (a lock and a wake-up): the thread sleeps until the first copy is due,
and a container that has exited by then is never read. ``unwatch`` returns only after any copy
in progress is saved, and later copies are dropped, so the final save always comes last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from abaco_shared.containers import DockerApi
from abaco_shared.errors import DockerError

__all__ = ["LiveLogs"]

log = logging.getLogger(__name__)

SaveLogs = Callable[[str], None]


@dataclass
class _Watch:
    """The container being watched, how to save its output, and when the next copy is due."""

    cid: str
    save: SaveLogs
    due: float
    last: str = ""
    capped: bool = False  # the output reached max_log_length: no copy can differ


class LiveLogs:
    """Copies the running container's output to its logs record every ``interval`` seconds
    (0: never). One container at a time: a worker runs one execution at a time."""

    def __init__(
        self,
        docker: DockerApi,
        max_log_length: int,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.docker = docker
        self.max_log_length = max_log_length
        self.interval = interval
        self.clock = clock
        self._cond = threading.Condition()
        self._watch: _Watch | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def watch(self, cid: str, save: SaveLogs) -> None:
        """A container started: copy its output with ``save`` while it runs past ``interval``."""
        if not self.enabled:
            return
        with self._cond:
            self._watch = _Watch(cid, save, due=self.clock() + self.interval)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="live-logs", daemon=True)
                self._thread.start()
            self._cond.notify()

    def unwatch(self) -> None:
        """The container exited (or never ran): no copy of it is saved after this returns."""
        if not self.enabled:
            return
        with self._cond:  # a copy is saved under this lock: waiting for it here orders the saves
            self._watch = None

    def close(self) -> None:
        """Stop the thread (the worker is exiting)."""
        with self._cond:
            self._closed = True
            self._watch = None
            self._cond.notify()

    def copy_due(self) -> float | None:
        """Make the copy that is due, if any; the seconds until the next one (None: nothing to watch)."""
        with self._cond:
            watch = self._watch
            if watch is None:
                return None
            wait = watch.due - self.clock()
            if wait > 0:
                return wait
        try:  # outside the lock: reading the output may take a while; unwatch must not wait for it
            text = self.docker.logs(watch.cid, self.max_log_length)
        except DockerError as exc:
            log.debug("could not read a running container's logs: %s", exc)
            text = watch.last
        with self._cond:
            if self._watch is not watch:  # it exited meanwhile: the final copy is the runner's
                return 0.0
            if text != watch.last:
                watch.save(text)
                watch.last = text
                watch.capped = len(text.encode()) > self.max_log_length > 0
            if watch.capped:
                self._watch = None
                return None
            watch.due = self.clock() + self.interval
            return self.interval

    def _loop(self) -> None:
        while True:
            with self._cond:
                watch = self._watch
                if self._closed:
                    return
                if watch is None:
                    self._cond.wait()  # idle until a container starts
                    continue
                wait = watch.due - self.clock()
                if wait > 0:
                    self._cond.wait(wait)  # woken early by a new watch or close: look again
                    continue
            try:
                self.copy_due()
            except Exception:  # a store error: the final copy is still saved at exit
                log.exception("copying a running container's logs failed")
                with self._cond:
                    if self._watch is not None:
                        self._watch.due = self.clock() + self.interval
