"""A worker's BUSY and READY in its record, with the READY of back-to-back executions left out.

Each execution made two writes to its worker's record: BUSY before it, READY (with
``last_execution_time``) after it. In a burst, a READY was followed a millisecond later by the
next BUSY. With ``lazy`` on (a worker serving its mailbox), the READY after an execution is only
noted. The mailbox consumer writes it (:meth:`Availability.flush`) once no message has followed
for ``LAG`` seconds, and an execution that starts before then writes no BUSY either, since the
record still says BUSY. A burst of N messages costs two writes instead of 2N (MongoDB is shared
by every host), and a record says READY at most about ``LAG`` after its worker fell idle.

Every write stays a conditional transition (``workers.set_status``): a worker asked to stop
meanwhile is not made READY again. A READY that cannot be written (the store is down) is tried
again ``RETRY_AFTER`` later, not at every ``LAG``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from abaco_shared import workers
from abaco_shared.enums import WorkerStatus
from abaco_shared.models import utcnow
from abaco_shared.outages import store_of

__all__ = ["Availability", "LAG"]

log = logging.getLogger(__name__)

LAG = 0.02  # s without a next message before a noted READY is written
RETRY_AFTER = 2.0  # s before a READY the store refused is tried again


class Availability:
    def __init__(self, lazy: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.lazy = lazy
        self.clock = clock
        self._due: tuple[str, dt.datetime] | None = None  # (worker record, when it fell idle)
        self._retry_at = 0.0

    def busy(self, worker_dbid: str) -> None:
        """Before an execution: BUSY, unless the record still says so (a READY noted, not written)."""
        if self._due is not None and self._due[0] == worker_dbid:
            self._due = None
            return
        workers.set_status(worker_dbid, WorkerStatus.BUSY)

    def ready(self, worker_dbid: str) -> None:
        """After an execution: READY now, or (``lazy``) noted for :meth:`flush`."""
        if self.lazy:
            self._due = (worker_dbid, utcnow())
            return
        workers.set_status(worker_dbid, WorkerStatus.READY, last_execution_time=utcnow())

    def wait(self, idle: float) -> float:
        """How long the consumer may wait for a message before it calls :meth:`flush` (``idle``
        when nothing is noted)."""
        if self._due is None:
            return idle
        return max(LAG, min(idle, self._retry_at - self.clock()))

    def flush(self) -> None:
        """Write the noted READY, if any (a store failure is logged and tried again later)."""
        if self._due is None or self.clock() < self._retry_at:
            return
        worker_dbid, idle_since = self._due
        try:
            workers.set_status(worker_dbid, WorkerStatus.READY, last_execution_time=idle_since)
        except Exception as exc:
            if store_of(exc) is None:
                raise
            log.warning("could not record the worker READY; trying again in %.0f s: %s", RETRY_AFTER, exc)
            self._retry_at = self.clock() + RETRY_AFTER
            return
        self._due = None
