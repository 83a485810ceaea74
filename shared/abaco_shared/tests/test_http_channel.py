"""The connection class the APIs serve with (``http._channel_class``)."""

import socket
import threading
import time
import types

import pytest
from waitress.adjustments import Adjustments

from abaco_shared.http import _channel_class


@pytest.fixture
def connection():
    """A channel over one end of a socket pair (the other end is the client), with a task running."""
    ours, client = socket.socketpair()
    server = types.SimpleNamespace(pull_trigger=lambda: None, active_channels={})
    channel = _channel_class("1.0")(server, ours, ("127.0.0.1", 0), Adjustments(), map={})
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
