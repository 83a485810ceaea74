"""The version watch's logic: RESP replies read from fragments, what a change or a reset forgets,
and when the watch gives up for good. Against a real Redis: tests/integration/test_version_watch.py."""

import logging
import socket
import time

import pytest

from abaco_shared import versionwatch
from abaco_shared.versionwatch import RespError, RespReader, VersionWatch, serving


def replies(data: bytes, chunk: int) -> list[object]:
    reader, out = RespReader(), []
    for i in range(0, len(data), chunk):
        reader.feed(data[i : i + chunk])
        while not reader.empty(value := reader.pop()):
            out.append(value)
    return out


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_replies_are_read_whole_from_any_fragments(chunk):
    data = (
        b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n-ERR no\r\n"
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n$3\r\nk:1\r\n$3\r\nk:2\r\n"
    )
    got = replies(data, chunk)
    assert got[:5] == ["OK", 42, "hello", None, None]
    assert isinstance(got[5], RespError) and str(got[5]) == "ERR no"
    assert got[6] == ["message", "__redis__:invalidate", ["k:1", "k:2"]]


def test_a_reply_that_is_not_resp_is_an_error():
    reader = RespReader()
    reader.feed(b"?what\r\n")
    with pytest.raises(ValueError):
        reader.pop()


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


class Server:
    """The other end of a socketpair, answering the handshake as Redis would."""

    def __init__(self, tracking_reply: bytes = b"+OK\r\n") -> None:
        self.ours, self.theirs = socket.socketpair()
        self.tracking_reply = tracking_reply

    def open(self) -> socket.socket:
        self.theirs.sendall(
            b":7\r\n" + self.tracking_reply + b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n"
        )
        return self.ours

    def invalidate(self, *keys: str) -> None:
        body = b"*%d\r\n" % len(keys) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k.encode()) for k in keys)
        self.theirs.sendall(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n" + body)


def watch_on(server: Server, clock: Clock) -> VersionWatch:
    watch = VersionWatch("redis://127.0.0.1:1/0", "p:version:", clock=clock)
    watch._open = server.open  # type: ignore[method-assign]
    return watch


def test_tokens_are_kept_until_their_key_changes_or_max_age():
    server, clock = Server(), Clock()
    watch = watch_on(server, clock)
    token, seq = watch.lookup("p:version:a")
    assert token is None and seq is not None and watch.client_id == 7
    watch.remember("p:version:a", "t1", seq)
    watch.remember("p:version:b", "t2", watch.lookup("p:version:b")[1])
    assert watch.lookup("p:version:a") == ("t1", None)
    server.invalidate("p:version:a")
    assert watch.lookup("p:version:a")[0] is None  # taken in before the answer
    assert watch.lookup("p:version:b") == ("t2", None)
    clock.now += watch.max_age
    assert watch.lookup("p:version:b")[0] is None


def test_a_request_needs_only_a_drain_begun_after_it_arrived():
    server, clock = Server(), Clock()
    watch = watch_on(server, clock)
    watch.remember("p:version:a", "t1", watch.lookup("p:version:a")[1])
    drains = []
    real_drain = watch._drain
    watch._drain = lambda: (drains.append(1), real_drain())  # type: ignore[method-assign]
    arrived = time.monotonic()
    with serving(arrived):
        assert watch.lookup("p:version:a") == ("t1", None)  # drains: none began since it arrived
        assert watch.lookup("p:version:a") == ("t1", None)  # another thread's would do as well
    assert len(drains) == 1
    server.invalidate("p:version:a")  # a change made before the next request is sent
    with serving(time.monotonic()):
        assert watch.lookup("p:version:a")[0] is None  # its drain takes the change in
    assert len(drains) == 2
    with serving(arrived):  # a request older than the last drain: it is covered
        watch.lookup("p:version:a")
    assert len(drains) == 2
    watch.lookup("p:version:a")  # outside a request: always drains
    assert len(drains) == 3


def test_a_drain_of_a_closed_connection_covers_no_request():
    server, clock = Server(), Clock()
    watch = watch_on(server, clock)
    watch.lookup("p:version:a")  # connects; then a drain
    arrived = time.monotonic()
    watch.lookup("p:version:a")
    assert watch._drained_from >= arrived
    watch.close()
    assert watch._drained_from == 0.0


def test_a_change_taken_in_between_lookup_and_remember_keeps_nothing():
    server, clock = Server(), Clock()
    watch = watch_on(server, clock)
    _, seq = watch.lookup("p:version:a")
    server.invalidate("p:version:zzz")  # any change: it may have been a's, after the read
    watch.remember("p:version:a", "old", seq)
    assert watch.lookup("p:version:a")[0] is None


def test_a_closed_connection_forgets_everything_and_retries_later(caplog):
    server, clock = Server(), Clock()
    watch = watch_on(server, clock)
    watch.remember("p:version:a", "t1", watch.lookup("p:version:a")[1])
    server.theirs.close()
    with caplog.at_level(logging.WARNING):
        assert watch.lookup("p:version:a") == (None, None)  # off: the caller reads Redis
    assert "version watch off" in caplog.text
    again = Server()
    watch._open = again.open  # type: ignore[method-assign]
    assert watch.lookup("p:version:a") == (None, None)  # not before retry_after
    clock.now += watch.retry_after
    token, seq = watch.lookup("p:version:a")
    assert token is None and seq is not None  # reconnected, with nothing remembered


def test_a_redis_that_refuses_tracking_is_not_asked_again(caplog):
    server, clock = Server(tracking_reply=b"-ERR unknown command 'CLIENT TRACKING'\r\n"), Clock()
    watch = watch_on(server, clock)
    with caplog.at_level(logging.WARNING):
        assert watch.lookup("p:version:a") == (None, None)
    assert "refused key tracking" in caplog.text
    clock.now += 3600
    watch._open = lambda: pytest.fail("asked again")  # type: ignore[method-assign]
    assert watch.lookup("p:version:a") == (None, None)


def test_an_idle_watch_reconnects_instead_of_reading_its_backlog():
    server, clock = Server(), Clock()
    watch = watch_on(server, clock)
    watch.lookup("p:version:a")
    opened = []
    fresh = Server()
    watch._open = lambda: opened.append(1) or fresh.open()  # type: ignore[method-assign]
    clock.now += watch.idle_reset + 1
    assert watch.lookup("p:version:a")[1] is not None and opened == [1]


def test_only_plain_redis_and_unix_urls_are_watched(caplog):
    watch = VersionWatch("rediss://example.invalid:6380/0", "p:version:")
    with caplog.at_level(logging.WARNING):
        assert watch.lookup("p:version:a") == (None, None)
    assert "rediss://" in caplog.text and watch._refused
    assert versionwatch.CHANNEL == "__redis__:invalidate"


def test_a_watch_of_a_few_prefixes_asks_for_them_and_never_remembers_other_keys():
    server, clock = Server(), Clock()
    watch = VersionWatch("redis://127.0.0.1:1/0", ("p:version:dev_a1", "p:version:configs:dev"), clock=clock)
    watch._open = server.open  # type: ignore[method-assign]
    token, seq = watch.lookup("p:version:dev_a1")
    assert token is None and seq is not None
    sent = server.theirs.recv(65536)
    assert b"$6\r\nPREFIX\r\n$16\r\np:version:dev_a1\r\n$6\r\nPREFIX\r\n$21\r\np:version:configs:dev\r\n" in sent
    watch.remember("p:version:dev_a1", "t1", seq)
    assert watch.lookup("p:version:dev_a1") == ("t1", None)
    assert watch.lookup("p:version:dev_b2") == (None, None)  # Redis says nothing of it: read it
    watch.remember("p:version:dev_b2", "t2", None)
    assert watch.lookup("p:version:dev_b2") == (None, None)
    server.invalidate("p:version:configs:dev")
    assert watch.lookup("p:version:dev_a1") == ("t1", None)
