"""In-process concurrency gates: one caller's slow requests cannot take every request thread.

A synchronous message (``?_abaco_synchronous=true``) holds a request thread until its execution
ends, for up to ``http.sync_timeout`` seconds. Without a bound, a handful of such calls by one user
would pin every thread of the messages API and stall every other tenant. ``SyncGate`` bounds them
per process and per tenant+user, and refuses the call over a limit at once (429), before
anything is queued: a refused call costs nothing and never leaves an execution behind.

The gate never blocks: waiting for a slot would itself pin a thread, which is what it prevents.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import TooManyRequests

__all__ = ["SyncGate"]


class SyncGate:
    """At most ``max_total`` holders at once in this process, ``max_per_user`` per tenant+user.

    Thread-safe; slots are released when the ``slot()`` block exits, however it exits (answer,
    timeout, exception), so a failed call never leaks one.
    """

    def __init__(self, max_total: int, max_per_user: int) -> None:
        if max_total < 1 or max_per_user < 1:
            raise ValueError("a SyncGate needs max_total and max_per_user of at least 1")
        self.max_total = max_total
        self.max_per_user = max_per_user
        self._lock = threading.Lock()
        self._total = 0
        self._per_user: dict[tuple[str, str], int] = {}

    @property
    def in_flight(self) -> int:
        """How many slots are held now (for tests and diagnostics)."""
        with self._lock:
            return self._total

    def held_by(self, tenant: str, user: str) -> int:
        with self._lock:
            return self._per_user.get((tenant, user), 0)

    def acquire(self, tenant: str, user: str) -> None:
        """Take a slot for ``user`` of ``tenant``, or raise TooManyRequests (429) at once."""
        key = (tenant, user)
        with self._lock:
            mine = self._per_user.get(key, 0)
            if mine >= self.max_per_user:
                raise TooManyRequests(
                    f"Too many synchronous calls in flight: you already have {mine} waiting (at most "
                    f"{self.max_per_user} per user). Wait for one to finish, or send the message "
                    "without _abaco_synchronous and poll its execution."
                )
            if self._total >= self.max_total:
                raise TooManyRequests(
                    f"Too many synchronous calls in flight on this server (at most {self.max_total}); "
                    "try again shortly, or send the message without _abaco_synchronous and poll its execution."
                )
            self._per_user[key] = mine + 1
            self._total += 1

    def release(self, tenant: str, user: str) -> None:
        """Give back a slot taken by ``acquire`` (a release without an acquire is a bug)."""
        key = (tenant, user)
        with self._lock:
            mine = self._per_user.get(key, 0)
            if mine < 1:
                raise RuntimeError(f"SyncGate.release without acquire for {tenant}/{user}")
            if mine == 1:
                del self._per_user[key]  # the table holds only callers with a call in flight
            else:
                self._per_user[key] = mine - 1
            self._total -= 1

    @contextmanager
    def slot(self, tenant: str, user: str) -> Iterator[None]:
        """Hold a slot for the block; raises TooManyRequests before the block when none is free."""
        self.acquire(tenant, user)
        try:
            yield
        finally:
            self.release(tenant, user)
