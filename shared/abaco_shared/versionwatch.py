"""Redis's invalidation messages for version keys: a process that has read an object's version
need not read it again until Redis says it changed.

A ``ReadCache`` reads an object's version (one Redis GET) at every use. That round trip costs an
API process more CPU than the rest of a ``GET /actors/{id}`` (the thread blocks, the GIL and the
CPU go elsewhere and come back). A ``VersionWatch`` opens one connection that asks Redis for
key-space tracking in broadcast mode (``CLIENT TRACKING on BCAST PREFIX <prefix>version:``,
Redis >= 6): Redis then sends the name of every version key that changes to this connection.
The watch remembers the tokens its process read, and every lookup first takes what has arrived
(a non-blocking read of the socket), so a remembered token is used only while no change of it
has arrived.

Why a change is never missed: Redis queues the message to this connection in the same pass of
its event loop that answers the writer, so by the time the writer's caller has its answer and
can send this process another request, the message is in this socket's buffer (on one host; a
network could delay it, so tokens are remembered at most ``max_age``). A token read while a
change was on its way is not remembered (see ``remember``).

So a lookup for a request needs only a drain that began after the request arrived: one that
another thread began then took in everything the request's sender could have changed. An API
says when its request arrived (``serving``); its lookups then share drains (each is a system
call that lets the GIL go) instead of making one each. A lookup outside ``serving`` drains.

Failures: an error on this connection forgets every token and turns the watch off; lookups then
say "read it yourself" (the ReadCache's GET) until a reconnect, tried after ``retry_after``. A
Redis that refuses tracking (an error reply to ``CLIENT TRACKING``), or a ``rediss://`` URL,
turns the watch off for good, logged once. An idle
connection (no lookup for ``idle_reset``) is reopened rather than drained of its backlog.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

__all__ = ["VersionWatch", "RespReader", "serving"]

log = logging.getLogger(__name__)

CHANNEL = "__redis__:invalidate"

_request = threading.local()  # .arrived: when this thread's request arrived (time.monotonic)


@contextmanager
def serving(arrived: float) -> Iterator[None]:
    """The lookups in this block are for a request that arrived at ``arrived`` (``time.monotonic``,
    taken when its first bytes were read, or later): a drain begun since then is enough."""
    outer = getattr(_request, "arrived", None)
    _request.arrived = arrived
    try:
        yield
    finally:
        _request.arrived = outer


class RespError(Exception):
    """An error reply (``-ERR ...``) from Redis."""


class Unwatchable(Exception):
    """This Redis cannot be watched (no key tracking, or a scheme this module does not speak)."""


class RespReader:
    """Incremental reader of RESP2 replies: ``feed`` bytes, then ``pop`` whole replies (None
    while the buffer holds none). Bulk strings are decoded as UTF-8; a null is None; an error
    reply is returned as a RespError."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._NONE = object()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pop(self) -> object:
        parsed = self._parse(0)
        if parsed is None:
            return self._NONE
        value, end = parsed
        del self._buf[:end]
        return value

    def empty(self, value: object) -> bool:
        return value is self._NONE

    def _parse(self, pos: int) -> tuple[object, int] | None:
        eol = self._buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        kind, line = self._buf[pos : pos + 1], bytes(self._buf[pos + 1 : eol])
        after = eol + 2
        if kind == b"+":
            return line.decode(), after
        if kind == b"-":
            return RespError(line.decode()), after
        if kind == b":":
            return int(line), after
        if kind == b"$":
            size = int(line)
            if size < 0:
                return None, after
            if len(self._buf) < after + size + 2:
                return None
            return bytes(self._buf[after : after + size]).decode(), after + size + 2
        if kind == b"*":
            count = int(line)
            if count < 0:
                return None, after
            items: list[object] = []
            for _ in range(count):
                parsed = self._parse(after)
                if parsed is None:
                    return None
                item, after = parsed
                items.append(item)
            return items, after
        raise ValueError(f"not a RESP reply: {bytes(self._buf[pos : eol + 2])!r}")


def _command(*args: str | int) -> bytes:
    parts = [str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class VersionWatch:
    def __init__(
        self,
        url: str,
        prefix: str | tuple[str, ...],
        username: str = "",
        password: str = "",
        max_age: float = 1.0,
        retry_after: float = 2.0,
        idle_reset: float = 5.0,
        max_entries: int = 50_000,
        timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        # the keys watched: the ReadCache's "<prefix>version:" (an API), or the few a worker reads
        # (its actor's, its tenant's configs'); a key outside them is never remembered
        self.prefixes = (prefix,) if isinstance(prefix, str) else tuple(prefix)
        self.username = username
        self.password = password
        self.max_age = max_age
        self.retry_after = retry_after
        self.idle_reset = idle_reset
        self.max_entries = max_entries
        self.timeout = timeout
        self.clock = clock
        self._sock: socket.socket | None = None
        self._reader = RespReader()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._seq = 0  # counts the changes taken in (and the resets): see ``remember``
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_drain = 0.0
        self._drained_from = 0.0  # when the last drain that succeeded began (time.monotonic)
        self._refused = False
        self._pid = os.getpid()
        self.client_id = 0  # this connection's, in Redis's CLIENT LIST
        self.changes = 0

    # ---------------------------------------------------------------------------- lookups
    def lookup(self, key: str) -> tuple[str | None, int | None]:
        """``(token, None)`` when ``key``'s token is remembered and unchanged; else ``(None, seq)``
        (the caller reads it, then calls ``remember`` with this ``seq``), or ``(None, None)``
        while the watch is off."""
        if not key.startswith(self.prefixes):
            return None, None  # not watched: Redis would not say when it changes
        with self._lock:
            if not self._ready():
                return None, None
            entry = self._tokens.get(key)
            if entry is not None and self.clock() - entry[1] < self.max_age:
                return entry[0], None
            return None, self._seq

    def remember(self, key: str, token: str, seq: int | None) -> None:
        """Keep ``token``, read from Redis after ``lookup`` gave ``seq``, unless a change (of any
        key) was taken in since: it may have been this key's, sent after the read, and would
        then be lost. Rare, and only a miss: the next lookup reads again."""
        with self._lock:
            if seq is None or self._sock is None:
                return
            self._drain()  # a change that came in after the read must be seen before keeping it
            if seq != self._seq or self._sock is None:
                return
            if len(self._tokens) >= self.max_entries:
                self._tokens.clear()
            self._tokens[key] = (token, self.clock())

    def close(self) -> None:
        with self._lock:
            self._close()

    # ---------------------------------------------------------------------------- connection
    def _ready(self) -> bool:
        """Connected, with every change that has arrived taken in (called under the lock)."""
        now = self.clock()
        if self._pid != os.getpid():  # a forked child: the parent's connection is not its own
            self._sock, self._pid = None, os.getpid()
            self._reader, self._tokens, self._drained_from = RespReader(), {}, 0.0
        if self._sock is not None and now - self._last_drain > self.idle_reset:
            self._close()  # idle: reopen rather than read a long backlog about forgotten tokens
        if self._sock is None:
            if self._refused or now < self._down_until:
                return False
            self._connect()
            return self._sock is not None
        arrived = getattr(_request, "arrived", None)
        if arrived is None or self._drained_from < arrived:  # else: drained since the request came
            self._drain()
        return self._sock is not None

    def _connect(self) -> None:
        try:
            self._sock = self._open()
            self._handshake()
        except Unwatchable as exc:
            self._refused = True
            self._close()
            log.warning("no version watch; versions are read at every use: %s", exc)
            return
        except (OSError, ValueError, RespError) as exc:  # e.g. LOADING while Redis starts
            self._fail(f"cannot connect: {exc}")
            return
        self._sock.setblocking(False)
        self._last_drain = self.clock()

    def _open(self) -> socket.socket:
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(parts.path)
            return sock
        if parts.scheme != "redis":
            raise Unwatchable(f"{parts.scheme}:// is not watched (plain redis:// and unix:// only)")
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _handshake(self) -> None:
        parts = urlsplit(self.url)
        user = self.username or unquote(parts.username or "")
        password = self.password or unquote(parts.password or "")
        if password:
            self._call(*(("AUTH", user, password) if user else ("AUTH", password)))
        self.client_id = int(str(self._call("CLIENT", "ID")))
        try:
            prefixes = [part for prefix in self.prefixes for part in ("PREFIX", prefix)]
            self._call("CLIENT", "TRACKING", "on", "REDIRECT", str(self.client_id), "BCAST", *prefixes)
        except RespError as exc:  # Redis < 6, or an ACL without CLIENT: asking again will not help
            raise Unwatchable(f"Redis refused key tracking: {exc}") from exc
        reply = self._call("SUBSCRIBE", CHANNEL)
        if not (isinstance(reply, list) and reply and reply[0] == "subscribe"):
            raise ValueError(f"unexpected answer to SUBSCRIBE: {reply!r}")

    def _call(self, *args: str) -> object:
        """One command and its reply, blocking (during the handshake only)."""
        assert self._sock is not None
        self._sock.sendall(_command(*args))
        while True:
            reply = self._reader.pop()
            if not self._reader.empty(reply):
                if isinstance(reply, RespError):
                    raise reply
                return reply
            data = self._sock.recv(65536)
            if not data:
                raise OSError("connection closed by Redis")
            self._reader.feed(data)

    def _drain(self) -> None:
        """Take in every message that has arrived (non-blocking)."""
        assert self._sock is not None
        began = time.monotonic()
        try:
            while True:
                try:
                    data = self._sock.recv(65536)
                except BlockingIOError:
                    break
                if not data:
                    raise OSError("connection closed by Redis")
                self._reader.feed(data)
                if len(data) < 65536:
                    break
            while True:
                message = self._reader.pop()
                if self._reader.empty(message):
                    break
                self._take(message)
        except (OSError, ValueError) as exc:
            self._fail(str(exc))
            return
        self._last_drain = self.clock()
        self._drained_from = began

    def _take(self, message: object) -> None:
        if not (isinstance(message, list) and len(message) == 3 and message[0] == "message"):
            return  # e.g. a late reply to the handshake's commands: nothing changed
        keys = message[2]
        self._seq += 1
        self.changes += 1
        if keys is None:  # FLUSHALL, or Redis dropped tracking state: anything may have changed
            self._tokens.clear()
            return
        for key in keys if isinstance(keys, list) else [keys]:
            self._tokens.pop(str(key), None)

    def _fail(self, reason: str) -> None:
        if self.clock() >= self._down_until:
            log.warning("version watch off for %.0f s (versions are read at every use): %s", self.retry_after, reason)
        self._down_until = self.clock() + self.retry_after
        self._close()

    def _close(self) -> None:
        """Forget every token: from now on nothing says whether they changed."""
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._reader = RespReader()
        self._tokens.clear()
        self._drained_from = 0.0  # a drain of that connection says nothing about the next
        self._seq += 1
