"""Serving an API's WSGI app with waitress (``serve``), on a connection class of our own
(``_channel_class``): waitress's own errors in the JSON envelope, each request's arrival time
for the app (``http.ARRIVED_KEY``), and a main loop that waits for a task writing its response
instead of spinning."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import bottle

from . import threadpool
from .http import ARRIVED_KEY

__all__ = ["serve"]


def serve(app: bottle.Bottle, listener: socket.socket, threads: int) -> None:
    """Serve a WSGI app with waitress on an already listening socket until SIGTERM/SIGINT.

    Every thread may hold a connection (a synchronous call holds one for minutes), so waitress
    accepts ``threads + 100`` connections (its default limit is 100) and polls them with poll(),
    which has no FD_SETSIZE limit. The errors waitress answers itself, before the app sees a
    request (a malformed request line or header, a path that is not text), are in the JSON
    envelope too, and the main loop waits for a response being written instead of spinning
    (``_channel_class``).
    """
    from waitress.server import BaseWSGIServer, create_server

    dispatchers: dict[int, Any] = {}
    server = create_server(
        app,
        map=dispatchers,
        _dispatcher=threadpool.dispatcher(threads),  # wakes the thread that went idle last (threadpool)
        sockets=[listener],
        threads=threads,
        connection_limit=threads + 100,
        asyncore_use_poll=True,
        ident="abaco",
    )
    channel = _channel_class(getattr(getattr(app, "envelope", None), "version", ""))
    for dispatcher in dispatchers.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = channel
    server.run()


# what waitress says when it refuses a request itself, said so that a client knows what to change
_WAITRESS_DETAILS = {
    "Bad URI": "the path or query is not valid (percent-encode every byte that is not printable ASCII)",
    "Invalid header": "a header is malformed (a header value may not hold control characters)",
}


def _channel_class(version: str) -> type:
    """waitress's connection class, answering its own errors in the JSON envelope, saying when
    each request arrived (``ARRIVED_KEY``), and whose main loop waits for a task that is writing
    a response rather than spinning (below)."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.task import ErrorTask, WSGITask

    class StampedParser(HTTPRequestParser):
        """A request, made when its first bytes are read: it notes when. Blank lines before a
        request (a client may send one after the last) do not count: the request arrives with
        its first other byte."""

        def __init__(self, adj: Any) -> None:
            super().__init__(adj)
            self.arrived = time.monotonic()

        def received(self, data: bytes) -> int:
            if self.body_rcv is None and not self.header_plus.strip():
                self.arrived = time.monotonic()
            consumed: int = super().received(data)
            return consumed

    class StampedTask(WSGITask):
        def get_environment(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().get_environment()
            environ[ARRIVED_KEY] = getattr(self.request, "arrived", None)
            return environ

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            detail = _WAITRESS_DETAILS.get(str(error.body), str(error.body))
            message = f"{error.reason}: {detail}".rstrip(". ") + "."
            envelope = {"status": "error", "message": message, "result": None, "version": version}
            body = (json.dumps(envelope) + "\n").encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class AbacoChannel(HTTPChannel):
        error_task_class = JsonErrorTask
        parser_class = StampedParser
        task_class = StampedTask

        def _flush_some_if_lockable(self, do_close: bool = True) -> None:
            """Flush the output while a task runs, waiting for the task's own write if one is
            under way.

            A task thread appends its response to the output and sends it itself, holding
            ``outbuf_lock`` for that append and one non-blocking send. waitress's main loop, which
            meanwhile sees the connection as writable, only tries the lock, and polls again at once
            when it is held: under load it spun there 20-30 times per request, holding the GIL the
            writing task needed (a POST cost the messages API 12 % more CPU). Waiting for the lock
            (it releases the GIL) costs the loop at most that one send.
            """
            with self.outbuf_lock:
                self._flush_some(do_close=do_close)
                if self.total_outbufs_len < self.adj.outbuf_high_watermark:
                    self.outbuf_lock.notify()  # a task waiting for the output to drain

    return AbacoChannel
