"""A lean HTTP/1.1 client for a Docker engine on a Unix socket: the calls of every execution.

Each execution makes six engine calls (create, start, wait, logs, inspect, remove). Through
docker-py each one goes through ``requests`` (request preparation, cookies, hooks, adapters,
urllib3's pool), which cost a worker about half of its CPU per execution. Here a call is one
``http.client`` request on a kept connection: the same bytes on the wire for a fraction of the
CPU. Everything else (pulls, info, listings) stays on docker-py.

Connections are kept in a small LIFO pool (a worker runs one execution at a time, but a
``force_quit`` from another thread may stop its container meanwhile); a kept connection that
the engine closed is noticed before use and replaced. A response that is not read to its end
(a log cut at its limit, a timeout) closes its connection instead of returning it.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

__all__ = [
    "EngineHttp",
    "EngineHttpError",
    "EngineTimeout",
    "container_path",
    "demux",
    "error_message",
    "unix_socket_path",
]

DEFAULT_TIMEOUT = 60.0
STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class EngineHttpError(Exception):
    """The engine answered with an error status (``status``) or could not be reached (0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EngineTimeout(EngineHttpError):
    """No answer within the call's timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


def unix_socket_path(base_url: str) -> str | None:
    """The socket path of a ``unix://`` engine URL (``unix:///var/run/docker.sock``), else None."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("unix", "http+unix"):
        return None
    return (parts.netloc + parts.path) if parts.netloc else parts.path


class _Headers:
    """A response's header fields by lower-cased name: what ``HTTPResponse`` asks of its
    headers (``get``, ``get_all``, ``items``), without ``email``'s parser, which cost a worker
    about a tenth of its CPU per execution."""

    __slots__ = ("_fields",)

    def __init__(self, lines: list[bytes]) -> None:
        self._fields: list[tuple[str, str]] = []
        for raw in lines:
            line = raw.decode("iso-8859-1").rstrip("\r\n")
            if line[:1] in (" ", "\t") and self._fields:  # an obsolete folded continuation
                name, value = self._fields[-1]
                self._fields[-1] = (name, f"{value} {line.strip()}")
                continue
            name, sep, value = line.partition(":")
            if sep:
                self._fields.append((name.strip().lower(), value.strip()))

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self._fields:
            if key == name:
                return value
        return default

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        name = name.lower()
        values = [value for key, value in self._fields if key == name]
        return values or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


class _LeanResponse(http.client.HTTPResponse):
    """``HTTPResponse`` with its header block read into :class:`_Headers` (``begin`` as the
    standard library's, less its debug output)."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            http.client._read_headers(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _Headers(http.client._read_headers(self.fp))
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == "HEAD"
        ):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _UnixConnection(http.client.HTTPConnection):
    response_class = _LeanResponse

    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _dropped(conn: _UnixConnection) -> bool:
    """A kept connection the engine has closed (readable at rest means EOF or junk)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class EngineHttp:
    def __init__(self, socket_path: str, api_version: str, max_idle: int = 4) -> None:
        self.socket_path = socket_path
        self.prefix = f"/v{api_version}"
        self.max_idle = max_idle
        self._idle: list[_UnixConnection] = []
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------- calls
    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> Any:
        """One call; its JSON answer (None for an empty one). An error status raises
        EngineHttpError with the engine's message, no answer in time EngineTimeout."""
        response, conn = self._send(method, path, params, body, timeout)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._failure(method, path, exc) from exc
        self._checkin(conn, response)
        if response.status >= 400:
            raise EngineHttpError(response.status, error_message(data, response.status))
        return json.loads(data) if data else None

    def stream(
        self, method: str, path: str, params: dict[str, Any] | None = None, timeout: float | None = DEFAULT_TIMEOUT
    ) -> Iterator[bytes]:
        """A call whose answer is read in chunks, as they come (closing the iterator early
        closes its connection)."""
        response, conn = self._send(method, path, params, None, timeout)
        if response.status >= 400:
            data = response.read()
            self._checkin(conn, response)
            raise EngineHttpError(response.status, error_message(data, response.status))
        finished = False
        try:
            while chunk := response.read1(65536):
                yield chunk
            finished = True
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(method, path, exc) from exc
        finally:
            if finished:
                self._checkin(conn, response)
            else:
                conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ---------------------------------------------------------------------------- connections
    def _send(
        self, method: str, path: str, params: dict[str, Any] | None, body: Any, timeout: float | None
    ) -> tuple[http.client.HTTPResponse, _UnixConnection]:
        url = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Host": "docker"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn, kept = self._checkout(timeout)
            try:
                conn.request(method, url, body=payload, headers=headers)
                return conn.getresponse(), conn
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                # a kept connection the engine closed just as it was reused: the request was
                # never read, so it is sent again once, on a new connection
                if attempt == 1 and kept and isinstance(exc, STALE):
                    continue
                raise self._failure(method, path, exc) from exc
        raise AssertionError("unreachable")

    def _checkout(self, timeout: float | None) -> tuple[_UnixConnection, bool]:
        """A connection with ``timeout`` set, and whether it was kept from an earlier call."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return _UnixConnection(self.socket_path, timeout), False
            if not _dropped(conn):
                break
            conn.close()
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _checkin(self, conn: _UnixConnection, response: http.client.HTTPResponse) -> None:
        if response.will_close or not response.isclosed():
            conn.close()
            return
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    @staticmethod
    def _failure(method: str, path: str, exc: BaseException) -> EngineHttpError:
        if isinstance(exc, TimeoutError):
            return EngineTimeout(f"{method} {path}: no answer in time")
        return EngineHttpError(0, f"{method} {path}: {exc}")


def error_message(data: bytes, status: int) -> str:
    """The engine's own words for an error answer (its JSON ``message``), else the body or status."""
    try:
        return str(json.loads(data).get("message") or status)
    except (ValueError, AttributeError):
        return data.decode("utf-8", errors="replace").strip() or str(status)


def container_path(cid: str, action: str = "") -> str:
    return f"/containers/{quote(cid, safe='')}" + (f"/{action}" if action else "")


def demux(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The payloads of the engine's multiplexed log stream (a container without a TTY): frames
    of an 8-byte header (stream, 0, 0, 0, size as 4 big-endian bytes) and ``size`` bytes, cut
    anywhere by the transport."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            yield bytes(buf[8 : 8 + size])
            del buf[: 8 + size]
