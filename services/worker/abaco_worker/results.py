"""The results socket (reference 2): datagrams an execution sends to ``/_abaco_results.sock``.

Per execution the worker binds a Unix datagram socket on the host at
``<socket_dir>/<worker_id>/<execution_id>.sock`` (mode 0777, so that the container's user may
send), bind-mounted at ``/_abaco_results.sock``. One receiver thread per worker process, started
with its first execution, blocks on an epoll selector over the open socket (registering a socket
needs no wake-up: no polling, no thread per execution) and stores each datagram, in the order
received, with ``abaco_shared.results``; the first one also signals synchronous callers.

When the container has exited the runner closes the inbox: what is still queued in the socket is
drained and stored *before* the execution is recorded COMPLETE, so a caller that sees COMPLETE
sees every result. Then the socket and its file go. An execution that sends nothing costs a
socket, a bind and an unlink: no thread wake-up, no store query.

Bounds per execution: ``[worker] max_results`` datagrams and ``max_result_bytes`` bytes, each
datagram at most ``MAX_DATAGRAM`` bytes. Beyond them datagrams are still read (a sender never
blocks on a full socket) but dropped, counted, logged once, and said on the execution's status
message (:meth:`Tally.note`).
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from pymongo.errors import PyMongoError

from abaco_shared import results
from abaco_shared.containers import ContainerSpec
from abaco_shared.errors import ConfigError
from abaco_shared.models import Actor, Execution
from abaco_shared.outages import store_of
from abaco_shared.results import MAX_DATAGRAM
from abaco_shared.waiters import CompletionSignals

__all__ = ["CONTAINER_PATH", "ResultLimits", "Tally", "ResultsInbox", "ResultsReceiver"]

log = logging.getLogger(__name__)

CONTAINER_PATH = "/_abaco_results.sock"
MAX_SOCKET_PATH = 107  # bytes of a Unix socket path (sun_path, with its NUL)
MAX_ID = 16  # generated execution ids have 13 characters
BATCH = 64  # datagrams read per wake-up before the selector is asked again


@dataclass(frozen=True)
class ResultLimits:
    """What one execution may keep (``[worker] max_results``, ``max_result_bytes``)."""

    max_results: int = 1000
    max_bytes: int = 64 * 1024 * 1024


@dataclass
class Tally:
    """What an execution's socket received: stored, and dropped by reason."""

    stored: int = 0
    stored_bytes: int = 0
    over_limit: int = 0  # past max_results or max_result_bytes
    too_large: int = 0  # one datagram above MAX_DATAGRAM
    lost: int = 0  # the store refused it

    @property
    def dropped(self) -> int:
        return self.over_limit + self.too_large + self.lost

    def note(self, limits: ResultLimits) -> str:
        """One sentence for the execution's status message ("" when nothing was dropped)."""
        if not self.dropped:
            return ""
        reasons = []
        if self.over_limit:
            reasons.append(
                f"{self.over_limit} over the limit of {limits.max_results} results or "
                f"{limits.max_bytes} bytes per execution"
            )
        if self.too_large:
            reasons.append(f"{self.too_large} larger than {MAX_DATAGRAM} bytes")
        if self.lost:
            reasons.append(f"{self.lost} that could not be stored")
        return f"Results: {self.stored} kept, {self.dropped} dropped ({'; '.join(reasons)})."


class ResultsInbox:
    """One execution's socket: bound, received from (by the receiver thread), drained and removed.

    Receiving and draining hold the inbox's lock, so datagrams are stored in the order they were
    read, whichever thread reads them, and none is read after :meth:`close`.
    """

    def __init__(
        self, path: Path, ex: Execution, ttl: int | None, limits: ResultLimits, signals: CompletionSignals
    ) -> None:
        self.path = path
        self.ex_dbid = ex.db_id
        self.actor_dbid = ex.actor_dbid
        self.ttl = ttl
        self.limits = limits
        self.signals = signals
        self.tally = Tally()
        self.closed = False
        self._lock = threading.Lock()
        self.extra = {"actor_id": ex.actor_dbid, "execution_id": ex.execution_id}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            path.unlink(missing_ok=True)  # left by an earlier attempt of the execution
            self.sock.bind(str(path))
            os.chmod(path, 0o777)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    @property
    def bind(self) -> str:
        """The container's mount of the socket (``host:container:rw``)."""
        return f"{self.path}:{CONTAINER_PATH}:rw"

    def receive(self) -> None:
        """Read and store what is queued (at most BATCH datagrams); nothing once closed."""
        with self._lock:
            if not self.closed:
                self._read(BATCH)

    def close(self) -> Tally:
        """Drain what is left, then close and remove the socket; what it received in all."""
        with self._lock:
            if self.closed:
                return self.tally
            try:
                self._read(None)
            finally:
                self.closed = True
                self.sock.close()
                self.path.unlink(missing_ok=True)
        if self.tally.dropped:
            log.warning("results dropped: %s", self.tally.note(self.limits), extra=self.extra)
        elif self.tally.stored:
            log.info("results stored", extra={**self.extra, "results": self.tally.stored})
        return self.tally

    def _read(self, most: int | None) -> None:
        count = 0
        while most is None or count < most:
            try:
                data = self.sock.recv(MAX_DATAGRAM + 1)  # one byte more tells a datagram too large
            except (BlockingIOError, InterruptedError):
                return
            count += 1
            self._keep(data)

    def _keep(self, data: bytes) -> None:
        tally = self.tally
        if len(data) > MAX_DATAGRAM:
            self._drop("too_large")
            return
        if tally.stored >= self.limits.max_results or tally.stored_bytes + len(data) > self.limits.max_bytes:
            self._drop("over_limit")
            return
        try:
            results.store(self.ex_dbid, self.actor_dbid, tally.stored, data, self.ttl)
        except PyMongoError as exc:
            log.warning("could not store a result: %s", exc, extra=self.extra)
            self._drop("lost")
            return
        tally.stored += 1
        tally.stored_bytes += len(data)
        if tally.stored == 1:  # the first: a synchronous caller may answer with it now
            try:
                self.signals.notify_result(self.ex_dbid)
            except Exception as exc:  # Redis away: the caller answers when the execution ends
                if store_of(exc) is None:
                    raise
                log.warning("could not signal the first result: %s", exc, extra=self.extra)

    def _drop(self, reason: str) -> None:
        if not self.tally.dropped:  # one line per execution; the total is logged at close
            log.warning("dropping results (%s)", reason, extra=self.extra)
        setattr(self.tally, reason, getattr(self.tally, reason) + 1)


class ResultsReceiver:
    """The worker process's results sockets and the one thread that reads them."""

    def __init__(self, socket_dir: str | Path, worker_id: str, limits: ResultLimits, signals: CompletionSignals):
        self.dir = Path(socket_dir) / worker_id
        if len(os.fsencode(self.dir / ("x" * MAX_ID + ".sock"))) > MAX_SOCKET_PATH - 1:
            raise ConfigError(
                f"config worker.socket_dir: {socket_dir} is too long for a Unix socket path "
                f"(<socket_dir>/<worker id>/<execution id>.sock must fit in {MAX_SOCKET_PATH} bytes)"
            )
        self.limits = limits
        self.signals = signals
        self._selector: selectors.BaseSelector | None = None
        self._thread: threading.Thread | None = None
        self._waker: tuple[socket.socket, socket.socket] | None = None
        self._stopping = False

    def open(self, actor: Actor, ex: Execution, spec: ContainerSpec) -> ResultsInbox | None:
        """Bind the execution's socket, mount it in ``spec`` and have the receiver thread read it.

        None (logged) when the socket cannot be made: the execution still runs, without it.
        """
        if ex.attempts > 1:  # a retry starts afresh: forget what an earlier attempt sent
            results.delete_for_execution(ex.db_id)
        path = self.dir / f"{ex.execution_id}.sock"
        try:
            selector = self._selector or self._start()
            try:
                inbox = ResultsInbox(path, ex, actor.log_ex, self.limits, self.signals)
            except FileNotFoundError:  # the directory went away (cleaned by hand): make it again
                self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
                inbox = ResultsInbox(path, ex, actor.log_ex, self.limits, self.signals)
        except OSError as exc:
            log.error("no results socket for this execution: %s", exc, extra={"execution_id": ex.execution_id})
            return None
        selector.register(inbox.sock, selectors.EVENT_READ, inbox)  # epoll sees it at once
        spec.binds.append(inbox.bind)
        return inbox

    def close(self, inbox: ResultsInbox | None) -> str:
        """Stop reading an execution's socket, drain it into the store and remove it (once its
        container has exited); what to add to the execution's status message ("" if nothing)."""
        if inbox is None:
            return ""
        if self._selector is not None:
            try:
                self._selector.unregister(inbox.sock)
            except (KeyError, ValueError):  # never registered, or already closed
                pass
        return inbox.close().note(self.limits)

    def shutdown(self) -> None:
        """Stop the thread and remove the worker's socket directory (when the worker exits)."""
        if self._thread is not None and self._waker is not None and self._selector is not None:
            self._stopping = True
            self._waker[1].send(b"x")
            self._thread.join(timeout=5)
            self._selector.close()
            for end in self._waker:
                end.close()
            self._thread = self._selector = self._waker = None
        try:
            self.dir.rmdir()
        except OSError:  # never made, or an inbox still open: health's sweep or the next start
            pass

    def _start(self) -> selectors.BaseSelector:
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        # epoll (Linux): a socket registered from the runner's thread is watched by the blocked
        # select() at once; other selectors would need a wake-up per registration
        selector: selectors.BaseSelector = getattr(selectors, "EpollSelector", selectors.DefaultSelector)()
        waker = socket.socketpair()
        waker[0].setblocking(False)
        selector.register(waker[0], selectors.EVENT_READ, None)
        self._selector, self._waker = selector, waker
        self._thread = threading.Thread(target=self._loop, args=(selector,), name="results", daemon=True)
        self._thread.start()
        return selector

    def _loop(self, selector: selectors.BaseSelector) -> None:
        while not self._stopping:
            for key, _ in selector.select():
                inbox = key.data
                if inbox is None:  # the waker: shutdown
                    continue
                try:
                    inbox.receive()
                except Exception:  # the thread must survive any one execution's trouble
                    log.exception("reading results failed", extra=inbox.extra)
