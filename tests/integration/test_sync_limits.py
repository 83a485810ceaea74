"""Synchronous calls cannot exhaust the messages API: one user holding its synchronous calls open
gets a 429 for one more at once, and other tenants are answered without delay."""

from __future__ import annotations

import threading
import time
import uuid

import requests

PER_USER = 2  # http.max_sync_waits_per_user's default
PROMPT = 1.0  # seconds within which other tenants must be answered


def _timed(call) -> tuple[requests.Response, float]:
    started = time.monotonic()
    resp = call()
    return resp, time.monotonic() - started


def _executions(client, actor_id: str) -> int:
    return client.ok("GET", f"/actors/{actor_id}/executions")["total_executions"]


def test_a_user_over_its_synchronous_limit_gets_429_and_others_are_not_delayed(client, actors, make_client):
    other = make_client("bob", f"t{uuid.uuid4().hex[:10]}")
    echo = other.register("abaco/echo:latest")
    # one sleeping actor per held call, so both run at once (one worker runs messages in turn)
    sleepers = [actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "8"})["id"] for _ in range(PER_USER)]
    answers: list[requests.Response] = []

    def hold(actor_id: str) -> None:
        answers.append(
            client.call("POST", f"/actors/{actor_id}/messages?_abaco_synchronous=true", data={"message": "held"})
        )

    held = [threading.Thread(target=hold, args=(a,)) for a in sleepers]
    try:
        for t in held:
            t.start()
        deadline = time.monotonic() + 10
        while not all(_executions(client, a) == 1 for a in sleepers):  # both calls queued: both wait now
            assert time.monotonic() < deadline, "the synchronous calls were not accepted"
            time.sleep(0.05)

        refused, took = _timed(
            lambda: client.call(
                "POST", f"/actors/{sleepers[0]}/messages?_abaco_synchronous=true", data={"message": "x"}
            )
        )
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["status"] == "error" and body["message"].startswith("Too many synchronous calls in flight"), body
        assert took < PROMPT, f"the 429 took {took:.2f}s"
        assert _executions(client, sleepers[0]) == 1, "a refused call queued nothing"

        posted, took = _timed(lambda: other.call("POST", f"/actors/{echo['id']}/messages", data={"message": "hi"}))
        assert posted.status_code == 200 and took < PROMPT, (posted.status_code, took, posted.text)
        listed, took = _timed(lambda: other.call("GET", "/actors"))
        assert listed.status_code == 200 and took < PROMPT, (listed.status_code, took)
        assert posted.json()["result"]["execution_id"]
    finally:
        for t in held:
            t.join(timeout=90)
        other.call("DELETE", f"/actors/{echo['id']}")

    assert [r.status_code for r in answers] == [200] * PER_USER, [r.text for r in answers]
    assert all(b"slept: held" in r.content for r in answers)
    # the slots came back: the same user may wait synchronously again
    again = client.call(
        "POST", f"/actors/{sleepers[0]}/messages?_abaco_synchronous=true&SLEEP_SECONDS=0", data={"message": "again"}
    )
    assert again.status_code == 200 and b"slept: again" in again.content
