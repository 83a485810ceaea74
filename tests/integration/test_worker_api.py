"""The admin worker API through nginx: POST /actors/{id}/workers (admins ensure at least num) and
DELETE /actors/{id}/workers/{wid} (a graceful stop that lets a running execution finish)."""

from __future__ import annotations

import time

import pytest

from abaco_shared.enums import Role


@pytest.fixture
def admin(make_client, tenant):
    return make_client("root", tenant, Role.ADMIN)


def wait_workers(client, actor_id: str, check, what: str, timeout: float = 60) -> list[dict]:
    """Poll the actor's workers until ``check(workers)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        found = client.ok("GET", f"/actors/{actor_id}/workers")
        if check(found):
            return found
        assert time.monotonic() < deadline, f"{what}: still {[(w['id'], w['status']) for w in found]} after {timeout}s"
        time.sleep(0.1)


def test_an_admin_asks_for_three_workers_and_gets_three_ready(client, admin, actors):
    actor = actors("abaco/echo:latest")  # stateless
    wait_workers(client, actor["id"], lambda ws: [w["status"] for w in ws] == ["READY"], "the first worker")

    reply = admin.call("POST", f"/actors/{actor['id']}/workers", json={"num": 3})

    assert reply.status_code == 200, reply.text
    assert reply.json()["message"] == "Scheduled 2 new worker(s) to start. Previously, there were 1 workers."
    ready = wait_workers(
        client, actor["id"], lambda ws: len(ws) == 3 and all(w["status"] == "READY" for w in ws), "three READY"
    )
    assert len({w["id"] for w in ready}) == 3
    again = admin.call("POST", f"/v3/actors/{actor['id']}/workers", data={"num": "3"})  # a form, v3: none to add
    assert again.json()["message"] == "Scheduled 0 new worker(s) to start. Previously, there were 3 workers."


def test_a_plain_user_may_not_post_workers_even_on_an_own_actor(client, admin, actors):
    actor = actors("abaco/echo:latest")

    reply = client.call("POST", f"/actors/{actor['id']}/workers", json={"num": 2})

    assert reply.status_code == 403 and reply.json()["status"] == "error"
    assert admin.call("POST", f"/actors/{actor['id']}/workers", json={"num": 0}).status_code == 400
    stateful = actors("abaco/echo:latest", stateless=False)
    refused = admin.call("POST", f"/actors/{stateful['id']}/workers", json={"num": 2})
    assert (refused.status_code, refused.json()["message"]) == (400, "stateful actors can only have 1 worker")


def test_deleting_a_busy_worker_lets_its_execution_finish(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "4"})
    eid = client.send(actor["id"], "nap")
    client.wait_execution(actor["id"], eid, timeout=60, statuses=("RUNNING",))
    (busy,) = client.ok("GET", f"/actors/{actor['id']}/workers")

    reply = client.call("DELETE", f"/actors/{actor['id']}/workers/{busy['id']}")

    assert (reply.status_code, reply.json()["message"]) == (200, "Worker scheduled to be stopped."), reply.text
    ex = client.wait_execution(actor["id"], eid, timeout=60)
    assert (ex["status"], ex["outcome"], ex["exit_code"]) == ("COMPLETE", "SUCCESS", 0)
    assert ex["runtime"] >= 3_500
    wait_workers(client, actor["id"], lambda ws: busy["id"] not in {w["id"] for w in ws}, "the stopped worker", 30)
    gone = client.call("GET", f"/actors/{actor['id']}/workers/{busy['id']}")
    assert gone.status_code == 404
    assert client.call("DELETE", f"/actors/{actor['id']}/workers/{busy['id']}").status_code == 404
