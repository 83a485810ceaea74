"""Outages of the backing stores: the errors that mean one, the 503 an API answers meanwhile, and
how a background loop waits one out.

MongoDB, Redis and RabbitMQ come back by themselves after a restart (measured: Redis ~2 s,
MongoDB 3-15 s, RabbitMQ 9-14 s). Meanwhile an API answers a retryable 503 with ``Retry-After``
that names the store (never a 500), and a daemon waits, for as long as it takes, with a capped
back-off (:class:`Backoff`): one log line when an outage starts and one when it ends
(:class:`Outage`), never one per try.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import amqp.exceptions
import kombu.exceptions
import pymongo.errors
import redis.exceptions

from .errors import ChannelError, ChannelTimeout, StoreUnavailable

__all__ = [
    "MONGODB",
    "REDIS",
    "RABBITMQ",
    "RETRY_AFTER",
    "FIRST_WAIT",
    "MAX_WAIT",
    "store_of",
    "unavailable",
    "Backoff",
    "Outage",
]

log = logging.getLogger(__name__)

MONGODB = "MongoDB"
REDIS = "Redis"
RABBITMQ = "RabbitMQ"
# seconds a client is told to wait before it tries again: about what a store takes to come back
RETRY_AFTER = 5
# a background loop's waits between tries: 1 s, doubling, at most MAX_WAIT s. A restarted store
# is found again at most MAX_WAIT s after it is back (RabbitMQ takes up to ~14 s to let clients
# in), so recovery stays within 30 s of a restart; a try costs one refused connect
FIRST_WAIT = 1.0
MAX_WAIT = 10.0
_ROLE = {MONGODB: "the database", REDIS: "the cache", RABBITMQ: "the message broker"}
# MongoDB answers these while it shuts down, starts up or changes primary: all pass by themselves
_MONGO_TRANSIENT_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})


def _classify(exc: BaseException) -> str | None:
    """The store that ``exc`` itself says is unreachable (its causes are not looked at)."""
    if isinstance(exc, StoreUnavailable):
        return str(exc.context.get("store") or "") or None
    if isinstance(exc, pymongo.errors.ConnectionFailure):
        return MONGODB
    if isinstance(exc, pymongo.errors.OperationFailure) and exc.code in _MONGO_TRANSIENT_CODES:
        return MONGODB
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return REDIS
    if isinstance(exc, kombu.exceptions.OperationalError | amqp.exceptions.ConnectionError):
        return RABBITMQ
    return None


def store_of(exc: BaseException) -> str | None:
    """The store (:data:`MONGODB`, :data:`REDIS` or :data:`RABBITMQ`) whose outage ``exc``
    reports, looking through what it was raised from; None for any other failure.

    A :class:`ChannelError` is the broker's unless it was raised from another store's error;
    a :class:`ChannelTimeout` (nobody answered a request in time) is not an outage.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        store = _classify(item)
        if store is not None:
            return store
    if isinstance(exc, ChannelError) and not isinstance(exc, ChannelTimeout):
        return RABBITMQ
    return None


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """The 503 an API answers for ``exc`` when it reports a store outage, else None."""
    if isinstance(exc, StoreUnavailable):
        return exc
    store = store_of(exc)
    if store is None:
        return None
    return StoreUnavailable(
        f"{store} ({_ROLE[store]}) is unavailable; try again in {RETRY_AFTER} seconds.", store=store
    )


class Backoff:
    """Capped exponential waits: ``first``, twice that, ... up to ``cap``, then ``cap`` for ever."""

    def __init__(self, first: float = FIRST_WAIT, cap: float = MAX_WAIT) -> None:
        if first <= 0 or cap < first:
            raise ValueError("a back-off needs 0 < first <= cap")
        self.first = first
        self.cap = cap
        self.tries = 0

    def next(self) -> float:
        """The wait before the next try (and count this try)."""
        delay = min(self.first * 2 ** min(self.tries, 32), self.cap)
        self.tries += 1
        return float(delay)

    def reset(self) -> None:
        self.tries = 0


class Outage:
    """One background loop's view of an outage, from its first failure to its first success.

    :meth:`failed` logs a warning only when an outage starts and returns the next wait of the
    loop's :class:`Backoff`; :meth:`wait` also waits it (interrupted by ``stop``); :meth:`ended`
    logs once that it is over, with how long it lasted. Safe to call from one thread only.
    """

    def __init__(
        self,
        what: str,
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what  # who waits, for the log: "the worker's mailbox consumer"
        self.backoff = backoff or Backoff()
        self.log = logger or log
        self.clock = clock
        self.since: float | None = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, store: str | None = None) -> float:
        """Note a failed try (of ``store``, when the caller knows better than ``exc`` says);
        the seconds to wait before the next one."""
        if self.since is None:
            self.since = self.clock()
            store = store or store_of(exc) or "a backing service"
            self.log.warning(
                "%s cannot reach %s; retrying with back-off up to %gs until it is back: %s",
                self.what,
                store,
                self.backoff.cap,
                exc,
                extra={"store": store},
            )
        return self.backoff.next()

    def wait(self, exc: BaseException, stop: threading.Event, store: str | None = None) -> bool:
        """Note a failed try and wait before the next one; True when ``stop`` was set meanwhile."""
        return stop.wait(self.failed(exc, store))

    def ended(self) -> None:
        """Note a successful try: the outage, if there was one, is over."""
        if self.since is None:
            return
        lasted = self.clock() - self.since
        self.since = None
        self.backoff.reset()
        self.log.info("%s is connected again after %.0fs", self.what, lasted, extra={"outage_seconds": round(lasted)})
