"""The API servers' thread pool: waitress's, waking the thread that went idle last.

waitress hands each request to a pool thread through one condition variable, and Python's
Condition wakes its waiters oldest first. With the hundreds of threads an API keeps for long
waits (synchronous calls, log follows), that sends consecutive requests to ever different,
long-idle threads, whose stacks and objects are cold in the CPU's caches: under load a request
cost about 1.7 times the CPU it costs on a warm thread. Waking the newest waiter instead keeps
the work on as few threads as the load needs; the others stay asleep until a burst reaches them.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["LifoCondition", "dispatcher"]


class LifoCondition(threading.Condition):
    """A condition whose ``notify`` wakes the most recent waiters first."""

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():  # type: ignore[attr-defined]
            raise RuntimeError("cannot notify on un-acquired lock")
        waiters = self._waiters  # type: ignore[attr-defined]
        while waiters and n > 0:
            waiter = waiters.pop()
            try:
                waiter.release()
            except RuntimeError:  # released before, by a notify that was interrupted
                continue
            n -= 1


def dispatcher(threads: int) -> Any:
    """A started waitress task dispatcher of ``threads`` threads that wakes them newest first."""
    from waitress.task import ThreadedTaskDispatcher

    pool = ThreadedTaskDispatcher()
    pool.queue_cv = LifoCondition(pool.lock)  # before any thread waits on it
    pool.set_thread_count(threads)
    return pool
