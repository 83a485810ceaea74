"""Events end to end: a link makes the linked actor run on the source's events; a webhook receives
signed events (execution events, ACTOR_READY, ACTOR_ERROR), retried after a 5xx. The events agent
(abaco:events) delivers both."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import pytest

from abaco_shared.enums import Role
from abaco_shared.webhooks import verify


class Receiver:
    """A webhook receiver on 127.0.0.1 (a random port): answers 500 to the first POST, 200 after."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, dict[str, str], bytes]] = []  # (status answered, headers, body)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = 500 if not receiver.posts else 200
                    receiver.posts.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def delivered(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for status, _, body in self.posts if status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _wait(what, check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_linked_actor_runs_on_the_sources_execution_complete_event(client, actors):
    b = actors("abaco/echo:latest")
    a = actors("abaco/echo:latest", link=b["id"])
    ex_a = client.send(a["id"], "hello")
    assert client.wait_execution(a["id"], ex_a)["exit_code"] == 0

    def complete_event_execution():
        for item in client.ok("GET", f"/actors/{b['id']}/executions")["executions"]:
            ex = client.wait_execution(b["id"], item["id"])
            logs = client.logs(b["id"], item["id"])
            if "'event_type': 'EXECUTION_COMPLETE'" in logs and f"'execution_id': '{ex_a}'" in logs:
                return ex, logs
        return None

    ex_b, logs = _wait("B's execution for A's EXECUTION_COMPLETE", complete_event_execution)
    assert ex_b["executor"] == "Abaco Event" and ex_b["status"] == "COMPLETE"
    assert "content-type: application/json" in logs
    assert f"'actor_id': '{a['id']}'" in logs and "'exit_code': 0" in logs


def test_a_webhook_gets_signed_events_and_a_retry_after_a_500(client, actors, make_client, tenant, receiver):
    actor = actors("abaco/echo:latest", webhook=receiver.url)
    secret = actor["webhook_secret"]
    assert len(secret) == 64 and client.ok("GET", f"/actors/{actor['id']}")["webhook_secret"] == secret
    client.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "READ"})
    assert "webhook_secret" not in make_client("bob", tenant, Role.USER).ok("GET", f"/actors/{actor['id']}")

    ex = client.send(actor["id"], "hello")
    client.wait_execution(actor["id"], ex)
    wanted = {"ACTOR_READY", "EXECUTION_STARTED", "EXECUTION_COMPLETE"}
    _wait("the three events", lambda: wanted <= {e["event_type"] for e in receiver.delivered()})

    for _, headers, body in receiver.posts:
        assert verify(secret, body, headers["X-Abaco-Signature"]), "every POST is signed with the actor's secret"
        assert headers["Content-Type"] == "application/json"
    (first_status, _, first_body), *rest = receiver.posts
    assert first_status == 500 and any(body == first_body for _, _, body in rest), "the 500 was retried"

    events = {e["event_type"]: e for e in receiver.delivered()}
    complete = events["EXECUTION_COMPLETE"]
    assert (complete["execution_id"], complete["status"], complete["exit_code"], complete["outcome"]) == (
        ex,
        "COMPLETE",
        0,
        "SUCCESS",
    )
    assert events["EXECUTION_STARTED"]["execution_id"] == ex
    for event in events.values():
        assert event["actor_id"] == actor["id"] and event["tenant_id"] == tenant
        assert event["actor_dbid"] == f"{tenant}_{actor['id']}" and event["_abaco_webhook"] == receiver.url
        assert event["_abaco_username"] == "Abaco Event" and event["_abaco_link"] == ""
        assert float(event["event_time_utc"]) > 0 and event["event_time_display"]


def test_an_actor_whose_image_cannot_be_had_sends_actor_error(client, actors, receiver):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every pull is refused at once
    image = f"127.0.0.1:{port}/nope/never:latest"
    actor = actors(image, webhook=receiver.url)
    failed = client.wait_actor_status(actor["id"], "ERROR", timeout=90)
    (event,) = _wait("ACTOR_ERROR", lambda: [e for e in receiver.delivered() if e["event_type"] == "ACTOR_ERROR"])
    assert event["actor_id"] == actor["id"] and event["status_message"] == failed["status_message"]
    assert image in event["status_message"]
