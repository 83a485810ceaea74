"""A message whose container cannot be started after worker.max_attempts tries becomes a dead
letter: listed under /actors/{id}/dead_letters, re-sent as a new execution, or discarded."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from abaco_shared.config import load_config

from .conftest import ROOT

MAX_ATTEMPTS = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)}).worker.max_attempts


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def image():
    """A tag of abaco/echo that a test may remove and put back (removed at the end)."""
    name = f"abaco/dl-{uuid.uuid4().hex[:10]}:latest"
    docker("tag", "abaco/echo:latest", name)
    yield name
    subprocess.run(["docker", "rmi", name], capture_output=True, timeout=60)


def test_a_message_that_cannot_start_is_a_dead_letter_and_can_be_resent(client, actors, image):
    # stateful: one worker, never autoscaled (a new worker would try to pull the removed image,
    # fail, and put the actor in ERROR, which ends its waiting messages instead)
    actor = actors(image, stateless=False)
    aid = actor["id"]
    client.wait_actor_status(aid, "READY", timeout=60)
    docker("rmi", image)  # the worker is up; its image is gone

    started = time.monotonic()
    keep = client.send(aid, "keep me", colour="blue")
    drop = client.send(aid, {"drop": True})
    binary = client.ok(
        "POST", f"/actors/{aid}/messages", data=b"\x00bytes\xff", headers={"Content-Type": "application/octet-stream"}
    )["execution_id"]
    lost = [client.wait_execution(aid, eid, timeout=120) for eid in (keep, drop, binary)]
    took = time.monotonic() - started
    print(f"three messages became dead letters in {took:.1f} s")

    for ex in lost:
        assert (ex["status"], ex["outcome"], ex["dead_letter"]) == ("ERROR", "NOT_STARTED", "HELD"), ex
        assert ex["attempts"] == MAX_ATTEMPTS and "is not present on this host" in ex["status_message"], ex
    resp = client.call("GET", f"/actors/{aid}/dead_letters")
    letters = client.result(resp)
    assert resp.headers["X-Total-Count"] == "3"
    assert {d["execution_id"] for d in letters} == {keep, drop, binary}
    kept = next(d for d in letters if d["execution_id"] == keep)
    found = client.ok("GET", "/actors/search/executions", params={"dead_letter": "HELD"})["search"]
    assert {e["id"] for e in found} == {keep, drop, binary}
    assert (kept["message"], kept["content_type"], kept["params"]) == ("keep me", "str", {"colour": "blue"})
    # the actor and its worker keep serving: only these messages were given up on (a worker's
    # record says READY once no message followed its last execution for a moment)
    assert client.ok("GET", f"/actors/{aid}")["status"] == "READY"
    deadline = time.monotonic() + 10
    while (statuses := [w["status"] for w in client.ok("GET", f"/actors/{aid}/workers")]) != ["READY"]:
        assert time.monotonic() < deadline and statuses == ["BUSY"], statuses
        time.sleep(0.05)

    assert client.ok("DELETE", f"/actors/{aid}/dead_letters/{drop}") is None
    docker("tag", "abaco/echo:latest", image)
    resent = client.ok("POST", f"/actors/{aid}/dead_letters/{keep}")
    assert resent["dead_letter"] == "RESENT" and resent["resent_as"]

    ex = client.wait_execution(aid, resent["resent_as"], timeout=120)
    assert (ex["status"], ex["outcome"], ex["params"]) == ("COMPLETE", "SUCCESS", {"colour": "blue"})
    assert "message: keep me" in client.logs(aid, ex["id"])
    resent_binary = client.ok("POST", f"/actors/{aid}/dead_letters/{binary}")["resent_as"]
    bin_ex = client.wait_execution(aid, resent_binary, timeout=120)
    assert (bin_ex["outcome"], bin_ex["content_type"], bin_ex["message"]) == (
        "SUCCESS",
        "application/octet-stream",
        {"binary_size": 7},
    )
    assert client.ok("GET", f"/actors/{aid}/dead_letters") == []
    assert client.ok("GET", f"/actors/{aid}/executions/{keep}")["resent_as"] == ex["id"]
    assert client.ok("GET", f"/actors/{aid}/executions/{drop}")["dead_letter"] == "DISCARDED"
    again = client.call("POST", f"/actors/{aid}/dead_letters/{keep}")
    assert again.status_code == 404
