"""Queue routing across compute hosts: the stack runs two spawners, ``abaco:spawner`` (host
``local``, queue ``default``) and ``abaco:spawner-special`` (host ``local-special``, queue
``special``), as two VMs would. An actor registered with ``"queue": "special"`` gets its workers
only from the second; every other actor only from the first."""

from __future__ import annotations

import time

import pytest

from abaco_shared.enums import Role


@pytest.fixture
def admin(make_client, tenant):
    return make_client("root", tenant, Role.ADMIN)


def ready_workers(client, actor_id: str, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = client.ok("GET", f"/actors/{actor_id}/workers")
        if len(found) == count and all(w["status"] == "READY" for w in found):
            return found
        assert time.monotonic() < deadline, f"workers of {actor_id}: {[(w['host_id'], w['status']) for w in found]}"
        time.sleep(0.2)


def test_each_queue_runs_only_on_the_hosts_that_serve_it(admin):
    special = admin.register("abaco/echo:latest", queue="special")
    plain = admin.register("abaco/echo:latest")
    try:
        assert (special["queue"], plain["queue"]) == ("special", "default")
        for actor in (special, plain):
            reply = admin.call("POST", f"/actors/{actor['id']}/workers", json={"num": 2})
            assert reply.status_code == 200, reply.text

        assert {w["host_id"] for w in ready_workers(admin, special["id"], 2)} == {"local-special"}
        assert {w["host_id"] for w in ready_workers(admin, plain["id"], 2)} == {"local"}

        for actor in (special, plain):
            ex = admin.wait_execution(actor["id"], admin.send(actor["id"], "routed"))
            assert (ex["status"], ex["exit_code"]) == ("COMPLETE", 0)
        special_ex = admin.ok("GET", f"/actors/{special['id']}/executions")["executions"][0]
        worker = admin.ok("GET", f"/actors/{special['id']}/executions/{special_ex['id']}")["worker_id"]
        assert worker in {w["id"] for w in admin.ok("GET", f"/actors/{special['id']}/workers")}
    finally:
        for actor in (special, plain):
            admin.call("DELETE", f"/actors/{actor['id']}")


def test_a_queue_no_host_serves_is_a_400_naming_the_known_ones(admin):
    resp = admin.call("POST", "/actors", json={"image": "abaco/echo:latest", "queue": "nowhere"})

    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == "Invalid queue: 'nowhere'; known queues: default, special."


def test_only_privileged_users_pick_a_queue(client):
    resp = client.call("POST", "/actors", json={"image": "abaco/echo:latest", "queue": "special"})

    assert resp.status_code in (400, 403), resp.text
