"""The lean engine client (``abaco_shared.enginehttp``) against a small HTTP/1.1 server on a Unix
socket: kept connections, the engine's error messages, timeouts, streams and their early close."""

import http.server
import itertools
import json
import socketserver
import threading
import time

import pytest

from abaco_shared.enginehttp import (
    EngineHttp,
    EngineHttpError,
    EngineTimeout,
    _Headers,
    container_path,
    demux,
    unix_socket_path,
)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the engine

    connections = itertools.count()

    def setup(self):
        super().setup()
        self.number = next(self.connections)  # one handler per connection

    def log_message(self, *args):  # the Unix peer has no address to print
        pass

    def address_string(self):
        return "unix"

    def _reply(self, status, body=b"", chunked=False):
        self.server.seen.append((self.command, self.path, self.number))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in body:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.startswith("/v1.41/containers/abc/logs"):
            frames = [b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n", b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"]
            return self._reply(200, [frames[0][:3], frames[0][3:], frames[1]], chunked=True)
        if self.path == "/v1.41/slow":
            time.sleep(0.5)
        if self.path == "/v1.41/closing":
            self.close_connection = True
            self.server.seen.append((self.command, self.path, self.number))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"{}")
            return None
        if self.path == "/v1.41/containers/gone/json":
            return self._reply(404, b'{"message": "No such container: gone"}')
        return self._reply(200, json.dumps({"path": self.path}).encode())

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        if self.path.endswith("/start"):
            return self._reply(204)
        return self._reply(201, json.dumps({"Id": "abc", "got": body}).encode())


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine(tmp_path):
    path = str(tmp_path / "engine.sock")
    server = Server(path, Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = EngineHttp(path, "1.41")
    yield client, server
    client.close()
    server.shutdown()
    server.server_close()


def test_calls_share_one_kept_connection(engine):
    client, server = engine
    assert client.call("GET", "/info")["path"] == "/v1.41/info"
    assert client.call("POST", "/containers/create", body={"Image": "abaco/echo"}) == {
        "Id": "abc",
        "got": {"Image": "abaco/echo"},
    }
    assert client.call("POST", container_path("abc", "start")) is None  # 204: no body
    assert client.call("GET", "/x", params={"all": 1, "filters": '{"a": 1}'})["path"].startswith("/v1.41/x?all=1&")
    assert len({conn for _, _, conn in server.seen}) == 1


def test_an_error_status_carries_the_engines_message(engine):
    client, _ = engine
    with pytest.raises(EngineHttpError, match="No such container: gone") as caught:
        client.call("GET", container_path("gone", "json"))
    assert caught.value.status == 404
    assert client.call("GET", "/info")  # the connection is still good


def test_no_answer_in_time_is_a_timeout_and_drops_the_connection(engine):
    client, _ = engine
    client.call("GET", "/info")
    with pytest.raises(EngineTimeout):
        client.call("GET", "/slow", timeout=0.1)
    assert client._idle == []
    assert client.call("GET", "/slow", timeout=5)["path"] == "/v1.41/slow"


def test_a_stream_is_read_as_it_comes_and_demultiplexed(engine):
    client, server = engine
    assert b"".join(demux(client.stream("GET", container_path("abc", "logs"), {"stdout": 1}))) == b"hello\nerr\n"
    assert len(client._idle) == 1  # read to its end: kept
    stream = client.stream("GET", container_path("abc", "logs"))
    next(stream)
    stream.close()  # given up early: its connection is closed, not kept
    assert len(client._idle) == 0
    client.call("GET", "/info")
    assert len({conn for _, _, conn in server.seen}) == 2


def test_a_kept_connection_the_engine_closed_is_replaced(engine):
    client, _ = engine
    client.call("GET", "/info")
    client._idle[0].sock.shutdown(2)  # as if the engine had closed it (a restart)
    assert client.call("GET", "/info")["path"] == "/v1.41/info"


def test_an_engine_that_is_not_there(tmp_path):
    client = EngineHttp(str(tmp_path / "nothing.sock"), "1.41")
    with pytest.raises(EngineHttpError) as caught:
        client.call("GET", "/info")
    assert caught.value.status == 0 and not isinstance(caught.value, EngineTimeout)


def test_demux_takes_frames_cut_anywhere():
    frames = b"".join(b"\x01\x00\x00\x00" + len(p).to_bytes(4, "big") + p for p in (b"a" * 300, b"", b"tail"))
    pieces = [frames[i : i + 7] for i in range(0, len(frames), 7)]
    assert b"".join(demux(iter(pieces))) == b"a" * 300 + b"tail"


@pytest.mark.parametrize(
    "url, path",
    [
        ("unix:///var/run/docker.sock", "/var/run/docker.sock"),
        ("unix://var/run/docker.sock", "var/run/docker.sock"),
        ("http+unix:///run/d.sock", "/run/d.sock"),
        ("tcp://127.0.0.1:2375", None),
        ("https://127.0.0.1:2376", None),
    ],
)
def test_unix_socket_path(url, path):
    assert unix_socket_path(url) == path


def test_an_answer_that_closes_its_connection_is_not_kept(engine):
    client, server = engine
    assert client.call("GET", "/closing") == {}
    assert client.call("GET", "/info")["path"] == "/v1.41/info"
    assert client._idle and len({conn for _, _, conn in server.seen}) == 2


def test_header_fields_by_any_case_folded_and_repeated():
    headers = _Headers(
        [
            b"Content-Type: application/json\r\n",
            b"X-Note: one\r\n",
            b"\tfolded\r\n",
            b"set-cookie: a=1\r\n",
            b"Set-Cookie: b=2\r\n",
            b"no colon here\r\n",
        ]
    )
    assert headers.get("content-type") == headers.get("CONTENT-TYPE") == "application/json"
    assert headers.get("x-note") == "one folded"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers.get("missing", "d") == "d" and headers.get_all("missing") is None
    assert ("content-type", "application/json") in headers.items()
