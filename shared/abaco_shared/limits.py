"""In-process concurrency gates: one caller's slow requests cannot take every request thread.

A synchronous message (``?_abaco_synchronous=true``) holds a request thread until its execution
ends, for up to ``http.sync_timeout`` seconds. Without a bound, a handful of such calls by one user
would pin every thread of the messages API and stall every other tenant. ``SyncGate`` bounds them
per process and per tenant+user, and refuses the call over a limit at once (429), before
anything is queued: a refused call costs nothing and never leaves an execution behind.

An API runs several processes (``http.processes``): the total protects one process's threads and
stays in the process, but a user's bound is the user's, across processes, so with ``UserSlots``
it is counted in Redis (leases in a sorted set, which a killed process's slots leave by expiry).

The gate never blocks: waiting for a slot would itself pin a thread, which is what it prevents.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis.exceptions

from .errors import TooManyRequests

__all__ = ["SyncGate", "UserSlots"]

log = logging.getLogger(__name__)


class UserSlots:
    """Slots per tenant+user shared by every process: a sorted set per user in Redis, each slot a
    random member scored by when its lease ends (``lease`` seconds: longer than any holder may
    hold one), so slots of a process that was killed come back on their own."""

    def __init__(
        self, client: Any, prefix: str, name: str, lease: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.prefix = f"{prefix}slots:{name}:"
        self.lease = lease
        self.clock = clock

    def take(self, tenant: str, user: str, limit: int) -> tuple[str | None, int]:
        """``(member, held)``: a new slot and how many the user holds with it, or ``(None, held)``
        when the user already holds ``limit``. Two callers racing for the last slot may both be
        refused, never both admitted. Raises RedisError when Redis does not answer."""
        key = f"{self.prefix}{tenant}/{user}"
        member, now = secrets.token_hex(8), self.clock()
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {member: now + self.lease})
        pipe.zcard(key)
        pipe.expire(key, int(self.lease) + 1)
        held = int(pipe.execute()[2])
        if held > limit:
            self.client.zrem(key, member)
            return None, held - 1
        return member, held

    def give_back(self, tenant: str, user: str, member: str) -> None:
        try:
            self.client.zrem(f"{self.prefix}{tenant}/{user}", member)
        except redis.exceptions.RedisError as exc:  # the lease ends it
            log.warning("could not give back a slot of %s/%s: %s", tenant, user, exc)


class SyncGate:
    """At most ``max_total`` holders at once in this process, ``max_per_user`` per tenant+user.

    Thread-safe; slots are released when the ``slot()`` block exits, however it exits (answer,
    timeout, exception), so a failed call never leaks one.
    """

    def __init__(self, max_total: int, max_per_user: int, shared: UserSlots | None = None) -> None:
        if max_total < 1 or max_per_user < 1:
            raise ValueError("a SyncGate needs max_total and max_per_user of at least 1")
        self.max_total = max_total
        self.max_per_user = max_per_user
        self.shared = shared
        self._lock = threading.Lock()
        self._total = 0
        self._per_user: dict[tuple[str, str], int] = {}
        self._members: dict[tuple[str, str], list[str]] = {}

    @property
    def in_flight(self) -> int:
        """How many slots are held now (for tests and diagnostics)."""
        with self._lock:
            return self._total

    def held_by(self, tenant: str, user: str) -> int:
        with self._lock:
            return self._per_user.get((tenant, user), 0)

    def acquire(self, tenant: str, user: str) -> None:
        """Take a slot for ``user`` of ``tenant``, or raise TooManyRequests (429) at once. With
        ``shared`` slots the user's bound counts every process's; should Redis not answer, this
        process's count stands in."""
        key = (tenant, user)
        with self._lock:
            mine = self._per_user.get(key, 0)
            if self.shared is None and mine >= self.max_per_user:
                raise self._user_full(mine)
            if self._total >= self.max_total:
                raise TooManyRequests(
                    f"Too many synchronous calls in flight on this server (at most {self.max_total}); "
                    "try again shortly, or send the message without _abaco_synchronous and poll its execution."
                )
            self._per_user[key] = mine + 1
            self._total += 1
        if self.shared is not None:
            self._take_shared(tenant, user, mine)

    def _take_shared(self, tenant: str, user: str, mine: int) -> None:
        assert self.shared is not None
        try:
            member, held = self.shared.take(tenant, user, self.max_per_user)
        except redis.exceptions.RedisError as exc:
            log.warning("per-user slots in Redis unavailable, counting this process's: %s", exc)
            member, held = "", mine + 1
            if held > self.max_per_user:
                member = None
        if member is None:
            self._release_local(tenant, user)
            raise self._user_full(held)
        with self._lock:
            self._members.setdefault((tenant, user), []).append(member)

    def _user_full(self, held: int) -> TooManyRequests:
        return TooManyRequests(
            f"Too many synchronous calls in flight: you already have {held} waiting (at most "
            f"{self.max_per_user} per user). Wait for one to finish, or send the message "
            "without _abaco_synchronous and poll its execution."
        )

    def release(self, tenant: str, user: str) -> None:
        """Give back a slot taken by ``acquire`` (a release without an acquire is a bug)."""
        member = ""
        with self._lock:
            members = self._members.get((tenant, user))
            if members:
                member = members.pop()
                if not members:
                    del self._members[(tenant, user)]
        self._release_local(tenant, user)
        if member and self.shared is not None:
            self.shared.give_back(tenant, user, member)

    def _release_local(self, tenant: str, user: str) -> None:
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
