"""Synchronous calls cannot exhaust the messages API: one user may hold 200 synchronous calls open
(``http.max_sync_waits_per_user``), one more gets a 429 at once, and every other endpoint keeps
answering promptly meanwhile; each held call ends with its own per-call timeout, naming its
execution, and the slots come back."""

from __future__ import annotations

import threading
import time
import uuid

import requests

PER_USER = 200  # http.max_sync_waits_per_user's default
PROMPT = 3.0  # seconds within which other requests must be answered (generous: the test is loaded)
HELD_TIMEOUT = 20  # seconds each held call waits (_abaco_sync_timeout): long enough to start all of them


def _timed(call) -> tuple[requests.Response, float]:
    started = time.monotonic()
    resp = call()
    return resp, time.monotonic() - started


def _executions(client, actor_id: str) -> int:
    return client.ok("GET", f"/actors/{actor_id}/executions")["total_executions"]


def test_200_synchronous_calls_leave_every_other_endpoint_prompt(client, actors, make_client):
    other = make_client("bob", f"t{uuid.uuid4().hex[:10]}")
    echo = other.register("abaco/echo:latest")
    slow = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "120"})["id"]
    url = f"{client.base}/actors/{slow}/messages?_abaco_synchronous=true&_abaco_sync_timeout={HELD_TIMEOUT}"
    headers = {"Authorization": client.session.headers["Authorization"]}
    answers: list[requests.Response | Exception] = []

    def hold(n: int) -> None:
        try:
            answers.append(
                requests.post(url, headers=headers, data={"message": f"held {n}"}, timeout=HELD_TIMEOUT + 60)
            )
        except requests.RequestException as exc:
            answers.append(exc)

    held = [threading.Thread(target=hold, args=(n,)) for n in range(PER_USER)]
    try:
        for t in held:
            t.start()
        deadline = time.monotonic() + HELD_TIMEOUT / 2
        while _executions(client, slow) < PER_USER:  # every call queued its message: all of them wait now
            assert time.monotonic() < deadline, f"only {_executions(client, slow)} calls were accepted in time"
            time.sleep(0.2)

        refused, took = _timed(
            lambda: client.call("POST", f"/actors/{slow}/messages?_abaco_synchronous=true", data={"message": "x"})
        )
        assert refused.status_code == 429, refused.text
        assert refused.json()["message"].startswith("Too many synchronous calls in flight"), refused.text
        assert took < PROMPT, f"the 429 took {took:.2f}s"
        assert _executions(client, slow) == PER_USER, "a refused call queued nothing"

        got, took = _timed(lambda: client.call("GET", f"/actors/{slow}"))
        assert got.status_code == 200 and took < PROMPT, (got.status_code, took)
        posted, took = _timed(lambda: other.call("POST", f"/actors/{echo['id']}/messages", data={"message": "hi"}))
        assert posted.status_code == 200 and took < PROMPT, (posted.status_code, took, posted.text)
        counted, took = _timed(lambda: client.call("GET", f"/actors/{slow}/messages"))
        assert counted.status_code == 200 and took < PROMPT, (counted.status_code, took)
        listed, took = _timed(lambda: other.call("GET", "/actors"))
        assert listed.status_code == 200 and took < PROMPT, (listed.status_code, took)
    finally:
        for t in held:
            t.join(timeout=HELD_TIMEOUT + 90)
        client.call("DELETE", f"/actors/{slow}/messages")  # purge what is still queued
        other.call("DELETE", f"/actors/{echo['id']}")

    errors = [a for a in answers if isinstance(a, Exception)]
    assert not errors, errors[:3]
    assert len(answers) == PER_USER
    assert {a.status_code for a in answers} == {504}, {a.status_code for a in answers}  # type: ignore[union-attr]
    ids = {a.json()["message"].split()[1] for a in answers}  # type: ignore[union-attr]  "Execution <id> did not..."
    assert len(ids) == PER_USER, "each timeout names its own execution"
    # the slots came back: the same user may wait synchronously again
    quick = actors("abaco/echo:latest")["id"]
    again = client.call("POST", f"/actors/{quick}/messages?_abaco_synchronous=true", data={"message": "again"})
    assert again.status_code == 200 and b"again" in again.content, again.text
