"""Idempotent submission through the real stack: a POST repeated with the same Idempotency-Key (as a
client does after a lost answer) runs the message once and answers the first execution."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
import uuid

KEY_PARAM = "_abaco_idempotency_key"


def executions_of(client, actor_id: str) -> list[dict]:
    return client.ok("GET", f"/actors/{actor_id}/executions")["executions"]


def post_and_lose_the_answer(base: str, client, actor_id: str, body: bytes, key: str) -> str:
    """Send a POST, wait until the server has accepted it (its execution exists), then hang up
    without reading the answer: the client never learns the execution id. Returns that id."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    headers = {
        "Authorization": client.session.headers["Authorization"],
        "Content-Type": "application/x-www-form-urlencoded",
        "Idempotency-Key": key,
    }
    conn.request("POST", f"/actors/{actor_id}/messages", body=body, headers=headers)
    try:
        deadline = time.monotonic() + 30
        while not executions_of(client, actor_id):
            assert time.monotonic() < deadline, "the first POST was never accepted"
            time.sleep(0.05)
    finally:
        conn.close()  # the answer is never read
    [accepted] = executions_of(client, actor_id)
    return accepted["id"]


def test_a_post_repeated_after_a_lost_answer_runs_once(stack, client, actors):
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/messages"
    key = str(uuid.uuid4())

    first = post_and_lose_the_answer(stack, client, actor["id"], b"message=only+once", key)

    # the client retries, twice, as it never saw an answer: the first execution, each time
    for _ in range(2):
        again = client.ok("POST", path, data={"message": "only once"}, headers={"Idempotency-Key": key})
        assert again["execution_id"] == first

    ex = client.wait_execution(actor["id"], first)
    assert ex["status"] == "COMPLETE"
    assert [e["id"] for e in executions_of(client, actor["id"])] == [first], "exactly one execution"
    assert client.logs(actor["id"], first).count("only once") == 1
    assert "Idempotency" not in str(ex.get("params")), "the key never reaches the container"


def test_a_synchronous_repeat_waits_for_the_first_result(client, actors):
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/messages"
    params = {"_abaco_synchronous": "true", KEY_PARAM: f"sync-{uuid.uuid4().hex}"}
    first = client.call("POST", path, data={"message": "sync once"}, params=params)
    again = client.call("POST", path, data={"message": "sync once"}, params=params)
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert first.headers["X-Abaco-Execution-Id"] == again.headers["X-Abaco-Execution-Id"]
    assert "sync once" in first.text and again.text == first.text
    assert len(executions_of(client, actor["id"])) == 1


def test_concurrent_repeats_make_one_execution(client, actors):
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/messages"
    key = f"burst-{uuid.uuid4().hex}"
    barrier = threading.Barrier(8)
    answers: list[str] = []

    def post() -> None:
        barrier.wait()
        reply = client.call("POST", path, data={"message": "burst"}, headers={"Idempotency-Key": key})
        answers.append(reply.json()["result"]["execution_id"] if reply.status_code == 200 else reply.text)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 8 and len(set(answers)) == 1, answers
    client.wait_execution(actor["id"], answers[0])
    assert len(executions_of(client, actor["id"])) == 1


def test_keys_are_checked_and_never_reused_for_another_message(client, actors):
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/messages"
    bad = client.call("POST", path, data={"message": "x"}, headers={"Idempotency-Key": "not a key!"})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["message"]

    key = f"k-{uuid.uuid4().hex}"
    client.ok("POST", path, data={"message": "first"}, headers={"Idempotency-Key": key})
    other = client.call("POST", path, data={"message": "second"}, headers={"Idempotency-Key": key})
    assert other.status_code == 409 and "another message" in other.json()["message"]
    assert len(executions_of(client, actor["id"])) == 1


def test_a_binary_repeat_must_carry_the_same_bytes(client, actors):
    """A binary body is part of what a key stands for: the same bytes again answer the first
    execution (and store nothing more); other bytes of the same length are a 409."""
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/messages"
    key = f"kb-{uuid.uuid4().hex}"
    headers = {"Content-Type": "application/octet-stream", "Idempotency-Key": key}
    first = client.ok("POST", path, data=b"\x00\x01payload", headers=headers)
    again = client.ok("POST", path, data=b"\x00\x01payload", headers=headers)
    assert again["execution_id"] == first["execution_id"]
    other = client.call("POST", path, data=b"\x00\x02payload", headers=headers)
    assert other.status_code == 409 and "another message" in other.json()["message"], other.text
    assert len(executions_of(client, actor["id"])) == 1
    usage = client.ok("GET", f"/actors/{actor['id']}/executions/{first['execution_id']}")
    assert usage["status"] in ("SUBMITTED", "RUNNING", "COMPLETE")
