"""A process's cache of hot reads (an actor, a caller's permission level), kept exact by versions.

Every API request names an actor and needs the caller's level on it: two MongoDB reads that
cost more CPU than the rest of a ``GET /actors/{id}``. They change rarely, so each process keeps
them, tagged with the object's *version*: a random token in Redis (``<prefix>version:<key>``) that every
write to the object replaces (``bump``, called by the records modules after the write). A use
reads the token first (one Redis GET) and takes a cached value only when it was read under that
same token, so a write acknowledged anywhere is seen by the next request everywhere (with a
``VersionWatch``, a token is read once and then kept until Redis says it changed):

- a reader that raced a write stored its value under the old token, which no longer matches;
- tokens never repeat (not a counter), so a Redis restart that loses them cannot make an old
  value match again; a missing token is created (SET NX) by the first read that finds the object;
- when Redis does not answer, nothing is cached for ``retry_after`` seconds (reads go to
  MongoDB), and a value is never used past ``max_age`` in any case: a write whose bump failed
  (Redis down, or the writer killed between its write and its bump) is seen by then at the latest.

Values are stored as given and handed out as stored: cache only immutable values (an int, BSON
bytes). Nothing here is installed at import: ``install`` (by ``build_context``) turns it on;
without it ``get`` always misses and ``bump`` does nothing.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import redis
import redis.exceptions

from .versionwatch import VersionWatch

__all__ = ["ReadCache", "Version", "install", "uninstall", "active", "bump"]

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_TTL = 24 * 3600  # a version not written for a day is dropped; its next use makes a new one


class Version:
    """The token one request read for one object key. ``token`` None: the object has none yet
    (the first value loaded creates one, see ``ReadCache.get``); ``usable`` False: Redis did not
    answer, so nothing is cached on this use."""

    __slots__ = ("key", "token", "usable")

    def __init__(self, key: str, token: str | None, usable: bool = True) -> None:
        self.key = key
        self.token = token
        self.usable = usable


class ReadCache(Generic[T]):
    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "abaco:",
        max_entries: int = 20_000,
        max_age: float = 10.0,
        retry_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        watch: VersionWatch | None = None,
    ) -> None:
        self.client = client
        self.watch = watch  # when given, a version unchanged since its last read costs no round trip
        self.prefix = prefix + "version:"
        self.max_entries = max_entries
        self.max_age = max_age
        self.retry_after = retry_after
        self.clock = clock
        self._entries: dict[Hashable, tuple[str, float, Any]] = {}
        self._down_until = 0.0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    # ---------------------------------------------------------------------------- versions
    def version(self, key: str) -> Version:
        """The object's current token (None: it has none yet, or Redis does not answer)."""
        if self.clock() < self._down_until:
            return Version(key, None, usable=False)
        seq = None
        if self.watch is not None:
            remembered, seq = self.watch.lookup(self.prefix + key)
            if remembered is not None:
                return Version(key, remembered)
        try:
            token = self.client.get(self.prefix + key)
        except redis.exceptions.RedisError as exc:
            self._redis_failed("read", key, exc)
            return Version(key, None, usable=False)
        if token is None:
            return Version(key, None)
        if self.watch is not None:
            self.watch.remember(self.prefix + key, str(token), seq)
        return Version(key, str(token))

    def bump(self, key: str) -> None:
        """Invalidate every process's cached values of ``key`` (call after writing it). When
        Redis does not answer, this process drops all it has; the others stop using their
        values after ``max_age``."""
        try:
            self.client.set(self.prefix + key, secrets.token_hex(8), ex=TOKEN_TTL)
        except redis.exceptions.RedisError as exc:
            self._redis_failed("bump", key, exc)
            with self._lock:
                self._entries.clear()

    def _redis_failed(self, what: str, key: str, exc: Exception) -> None:
        if self.clock() >= self._down_until:
            log.warning("read cache off for %.0f s: cannot %s the version of %s: %s", self.retry_after, what, key, exc)
        self._down_until = self.clock() + self.retry_after

    # ---------------------------------------------------------------------------- values
    def get(self, version: Version, name: Hashable, load: Callable[[], T | None]) -> T | None:
        """The value ``name`` of the object ``version.key``: cached under the same token and
        younger than ``max_age``, else ``load()`` (which is cached unless it is None).

        An object without a token gets one once a load found it (SET NX: if a writer's bump came
        first, that token wins and nothing is cached this time), so ids that name nothing never
        leave keys in Redis."""
        if version.token is not None:
            entry = self._entries.get(name)
            if entry is not None and entry[0] == version.token and self.clock() - entry[1] < self.max_age:
                self.hits += 1
                return entry[2]
        self.misses += 1
        value = load()
        if value is None or not version.usable:
            return value
        if version.token is None:
            version.token = self._new_token(version.key)
        if version.token is not None:
            self._store(name, version.token, value)
        return value

    def _new_token(self, key: str) -> str | None:
        """A first token for ``key`` (loaded before it existed), or None if a bump got there first."""
        token = secrets.token_hex(8)
        try:
            created = self.client.set(self.prefix + key, token, nx=True, ex=TOKEN_TTL)
        except redis.exceptions.RedisError as exc:
            self._redis_failed("create", key, exc)
            return None
        return token if created else None

    def _store(self, name: Hashable, token: str, value: Any) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # crude, and rare: a full cache starts again
            self._entries[name] = (token, self.clock(), value)


_active: ReadCache[Any] | None = None


def install(cache: ReadCache[Any]) -> None:
    global _active
    _active = cache


def uninstall() -> None:
    global _active
    _active = None


def active() -> ReadCache[Any] | None:
    return _active


def bump(key: str) -> None:
    """Invalidate ``key`` everywhere; nothing when no cache is installed in this process."""
    if _active is not None:
        _active.bump(key)
