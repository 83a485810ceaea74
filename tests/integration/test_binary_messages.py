"""Binary (application/octet-stream) messages end to end: through nginx and the messages API into
the blob store, then a worker's read-only file at /_abaco_binary_data in a real container
(``abaco/binsum`` prints the size and sha256 of what it reads)."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from abaco_shared import blobs
from abaco_shared.actors import key_for
from abaco_shared.config import load_config
from abaco_shared.store import connect_mongo, disconnect_mongo

from .conftest import ROOT

IMAGE = "abaco/binsum:latest"
BINARY = {"Content-Type": "application/octet-stream"}
BIG = 100 * 1024 * 1024


def _config():
    return load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})


@pytest.fixture
def mongo() -> Iterator[None]:
    """The platform's own MongoDB, to look into the blob store."""
    connect_mongo(_config().mongo)
    try:
        yield
    finally:
        disconnect_mongo()


def binary_dir() -> Path:
    cfg = _config()
    return Path(cfg.worker.binary_dir or cfg.data_path / "binary")


def eventually(check, timeout: float = 30) -> None:
    """``check()`` becomes true within ``timeout`` seconds (clean-up that follows COMPLETE)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{check.__doc__ or check} still false after {timeout}s"
        time.sleep(0.1)


def logged(client, actor_id: str, execution_id: str) -> dict[str, str]:
    """binsum's ``key=value`` output as a dict."""
    text = client.logs(actor_id, execution_id)
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def send_binary(client, actor_id: str, body, **params) -> dict:
    resp = client.call("POST", f"/actors/{actor_id}/messages", data=body, headers=BINARY, params=params)
    result = client.result(resp)
    assert result["msg"] == "binary - omitted"
    return result


def raw_post(client, path: str, headers: str, body: bytes = b"", close_early: bool = False) -> bytes:
    """A hand-written request (a declared length that differs from what is sent), through nginx."""
    base = urllib.parse.urlsplit(client.base)
    token = client.session.headers["Authorization"]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {base.netloc}\r\nAuthorization: {token}\r\n"
        f"Content-Type: application/octet-stream\r\nConnection: close\r\n{headers}\r\n"
    )
    with socket.create_connection((base.hostname, base.port or 80), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        if close_early:
            return b""
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                break
    return answer


def test_a_100_mb_payload_reaches_the_container_whole_and_is_cleaned_up(client, actors, tenant, mongo):
    actor = actors(IMAGE)
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as payload:  # streamed from a file, never built in memory
        for _ in range(BIG // (1 << 20)):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            payload.write(chunk)
        payload.seek(0)
        sent = send_binary(client, actor["id"], payload, colour="blue")

    ex = client.wait_execution(actor["id"], sent["execution_id"], timeout=180)

    assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0, ex
    out = logged(client, actor["id"], ex["id"])
    assert out["size"] == str(BIG) and out["sha256"] == digest.hexdigest()
    assert out["content_type"] == "application/octet-stream" and out["msg_set"] == "False"
    # the record keeps the size and the parameters, never the bytes (nor the blob's id)
    assert ex["content_type"] == "application/octet-stream"
    assert ex["message"] == {"binary_size": BIG}
    assert ex["params"] == {"colour": "blue"}
    assert "binary_ref" not in ex
    # the payload's blob and the worker's host file go once the execution is COMPLETE
    actor_dbid = key_for(tenant, actor["id"])
    eventually(lambda: blobs.for_actor(actor_dbid) == [])
    host_file = binary_dir() / ex["worker_id"] / ex["id"]
    eventually(lambda: not host_file.exists())


def test_a_payload_past_the_pipe_buffer_read_the_agavepy_way(client, actors):
    actor = actors(IMAGE, default_environment={"BINSUM_READ": "nonblock"})
    payload = os.urandom(300_000)  # several times a pipe's 64 KiB

    sent = send_binary(client, actor["id"], payload)
    ex = client.wait_execution(actor["id"], sent["execution_id"])

    out = logged(client, actor["id"], ex["id"])
    assert out["read"] == "nonblock"
    assert (out["size"], out["sha256"]) == (str(len(payload)), hashlib.sha256(payload).hexdigest())


def test_a_declared_length_over_the_limit_is_a_json_413(client, actors):
    actor = actors(IMAGE)
    limit = _config().http.max_binary_length

    answer = raw_post(client, f"/actors/{actor['id']}/messages", f"Content-Length: {limit + 1}\r\n", b"x" * 1000)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head
    assert b'"status":"error"' in body.replace(b" ", b"") and b"500 MB" in body
    assert client.ok("GET", f"/actors/{actor['id']}/executions")["executions"] == []


def test_no_content_length_is_411_and_an_empty_body_is_400(client, actors):
    actor = actors(IMAGE)
    path = f"/actors/{actor['id']}/messages"

    no_length = raw_post(client, path, "")
    empty = client.call("POST", path, data=b"", headers=BINARY)

    assert no_length.startswith(b"HTTP/1.1 411") and b"Content-Length" in no_length
    assert empty.status_code == 400 and empty.json()["status"] == "error"
    assert "empty" in empty.json()["message"]
    assert client.ok("GET", f"/actors/{actor['id']}/executions")["executions"] == []


def test_an_upload_cut_short_leaves_no_blob_and_no_execution(client, actors, tenant, mongo):
    actor = actors(IMAGE)
    path = f"/actors/{actor['id']}/messages"

    raw_post(client, path, f"Content-Length: {20 << 20}\r\n", os.urandom(1 << 20), close_early=True)
    after = send_binary(client, actor["id"], b"after")  # a complete message afterwards runs as usual
    client.wait_execution(actor["id"], after["execution_id"])

    listed = client.ok("GET", f"/actors/{actor['id']}/executions")["executions"]
    assert [e["id"] for e in listed] == [after["execution_id"]]
    eventually(lambda: blobs.for_actor(key_for(tenant, actor["id"])) == [])


def test_deleting_an_actor_deletes_the_payloads_of_its_waiting_messages(client, tenant, mongo):
    actor = client.register("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "30"})
    actor_dbid = key_for(tenant, actor["id"])
    first = send_binary(client, actor["id"], b"one")
    send_binary(client, actor["id"], b"two")
    client.wait_execution(actor["id"], first["execution_id"], statuses=("RUNNING",))
    assert len(blobs.for_actor(actor_dbid)) == 2

    client.ok("DELETE", f"/actors/{actor['id']}")

    assert blobs.for_actor(actor_dbid) == []
