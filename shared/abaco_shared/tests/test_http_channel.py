"""The connection class the APIs serve with (``server._channel_class``), and the arrival time it
hands the app."""

import socket
import threading
import time
import types
from wsgiref.util import setup_testing_defaults

import pytest
from waitress.adjustments import Adjustments

from abaco_shared import versionwatch
from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.http import ARRIVED_KEY, AbacoApp, ok
from abaco_shared.server import _channel_class


@pytest.fixture
def connection():
    """A channel over one end of a socket pair (the other end is the client), with a task running."""
    ours, client = socket.socketpair()
    adj = Adjustments()
    server = types.SimpleNamespace(
        pull_trigger=lambda: None,
        active_channels={},
        add_task=lambda channel: None,
        adj=adj,
        server_name="localhost",
        effective_port=80,
        application=None,
    )
    channel = _channel_class("1.0")(server, ours, ("127.0.0.1", 0), adj, map={})
    channel.requests = [object()]  # a task is serving a request: the main loop only tries to flush
    client.settimeout(5)
    yield channel, client
    channel.close()
    client.close()


def test_the_main_loop_waits_for_a_task_writing_its_response_then_sends_what_is_left(connection):
    channel, client = connection
    writing = threading.Event()

    def task() -> None:  # what write_soon does: append, under the lock, then (here: later) send
        with channel.outbuf_lock:
            channel.outbufs[-1].append(b"HTTP/1.1 200 OK\r\n\r\n")
            channel.total_outbufs_len += 19
            writing.set()
            time.sleep(0.2)

    thread = threading.Thread(target=task)
    thread.start()
    writing.wait(5)
    assert channel.writable()
    started = time.monotonic()
    channel.handle_write()  # waitress's own class returns at once here, with nothing sent
    assert time.monotonic() - started >= 0.1
    assert channel.total_outbufs_len == 0
    assert client.recv(100) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert not channel.writable()  # nothing left: the loop does not poll for it again
    thread.join()


def test_a_task_waiting_for_its_output_to_drain_is_woken_by_the_main_loop(connection):
    channel, client = connection
    with channel.outbuf_lock:
        channel.outbufs[-1].append(b"x" * 10)
        channel.total_outbufs_len += 10
    woken = []

    def task() -> None:  # what write_soon does above the high watermark
        with channel.outbuf_lock:
            woken.append(channel.outbuf_lock.wait(5))

    thread = threading.Thread(target=task)
    thread.start()
    time.sleep(0.1)
    channel.handle_write()
    thread.join()
    assert woken == [True]
    assert client.recv(100) == b"x" * 10


def test_a_request_says_when_its_first_bytes_were_read(connection):
    channel, _ = connection
    channel.requests = []
    before = time.monotonic()
    channel.received(b"GET /actors HTTP/1.1\r\nHost: x\r\n\r\n")
    after = time.monotonic()
    (request,) = channel.requests
    environ = channel.task_class(channel, request).get_environment()
    assert before <= environ[ARRIVED_KEY] <= after


def test_an_app_serves_each_request_under_its_arrival(monkeypatch):
    cfg = load_config(env={})
    app = AbacoApp(cfg.general.version, Authenticator(cfg.auth, b"x" * 32), cfg.http.max_content_length)
    seen = []

    @app.get("/when", auth=False)
    def when():
        seen.append(getattr(versionwatch._request, "arrived", None))
        return ok(None)

    for arrived in (12.5, None):  # from waitress; else when the app began
        environ = {}
        setup_testing_defaults(environ)
        environ.update(REQUEST_METHOD="GET", PATH_INFO="/when")
        if arrived is not None:
            environ[ARRIVED_KEY] = arrived
        began = time.monotonic()
        b"".join(app(environ, lambda *a: None))
        assert seen[-1] == 12.5 if arrived else began <= seen[-1] <= time.monotonic()
    assert getattr(versionwatch._request, "arrived", None) is None  # nothing left on the thread


def test_blank_lines_before_a_request_do_not_make_it_older(connection):
    channel, _ = connection
    channel.requests = []
    channel.received(b"\r\n")  # a client may send one after its last request
    time.sleep(0.05)
    sent = time.monotonic()
    channel.received(b"GET /actors HTTP/1.1\r\nHost: x\r\n\r\n")
    (request,) = channel.requests
    assert channel.task_class(channel, request).get_environment()[ARRIVED_KEY] >= sent
