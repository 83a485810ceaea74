"""A finished container is never run again: a worker SIGKILLed mid-execution leaves its container
running; the worker that gets the redelivered message adopts it, and the execution ends COMPLETE
once, from that one container (Docker's own events count its starts)."""

from __future__ import annotations

import os
import time

import docker
import pytest


@pytest.fixture
def engine():
    client = docker.from_env()
    yield client
    client.close()


def container_starts(engine: docker.DockerClient, execution_id: str, since: int) -> int:
    events = engine.events(
        since=since,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "start", "label": f"abaco.execution={execution_id}"},
        decode=True,
    )
    return sum(1 for ev in events if ev.get("Actor", {}).get("Attributes", {}).get("abaco.execution") == execution_id)


def test_a_sigkilled_workers_container_is_adopted_not_run_again(client, actors, engine):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "6"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    since = int(time.time()) - 1
    execution_id = client.send(actor["id"], "adopted")
    client.wait_execution(actor["id"], execution_id, timeout=30, statuses=("RUNNING",))
    os.kill(worker["pid"], 9)

    ex = client.wait_execution(actor["id"], execution_id, timeout=90)
    assert ex["status"] == "COMPLETE" and ex["outcome"] == "SUCCESS" and ex["exit_code"] == 0, ex
    assert ex["attempts"] == 1, "adoption is not another attempt"
    assert ex["worker_id"] != worker["id"], "a new worker adopted the container"
    assert "Adopted by worker" in ex["status_message"] and ex["cpu"] is None
    assert ex["runtime"] >= 5000, "the runtime is the container's own, from Docker"
    assert "slept: adopted" in client.logs(actor["id"], execution_id)
    assert container_starts(engine, execution_id, since) == 1, "exactly one container ran it"
    time.sleep(2)  # it stays terminal, once
    again = client.ok("GET", f"/actors/{actor['id']}/executions/{execution_id}")
    assert (again["status"], again["finish_time"], again["worker_id"]) == (
        "COMPLETE",
        ex["finish_time"],
        ex["worker_id"],
    )
    deadline = time.monotonic() + 30
    while engine.containers.list(all=True, filters={"label": f"abaco.execution={execution_id}"}):
        assert time.monotonic() < deadline, "the adopted container was not removed"
        time.sleep(0.5)
