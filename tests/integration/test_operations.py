"""Operations: the spawner can restart under running workers; workers are reaped, not zombies."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from .conftest import supervisorctl


def _process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_every_program_is_listed_by_supervisorctl(stack):
    out = supervisorctl("status")
    for name in ("mongod", "rabbitmq", "redis", "nginx", "registration", "messages", "admin", "spawner",
                 "health", "clientg"):
        assert name in out, out
    for line in out.splitlines():
        if "dockerd" not in line:
            assert "RUNNING" in line, line


def test_spawner_restart_leaves_workers_running_and_serving(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "2"})
    client.wait_execution(actor["id"], client.send(actor["id"], "before"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    pid = worker["pid"]
    running = client.send(actor["id"], "during")
    out = supervisorctl("restart", "abaco:spawner")
    assert "started" in out, out
    assert _process_state(pid) not in (None, "Z"), "the worker survived the spawner restart"
    ex = client.wait_execution(actor["id"], running)
    assert ex["exit_code"] == 0 and ex["worker_id"] == worker["id"]
    after = client.wait_execution(actor["id"], client.send(actor["id"], "after"))
    assert after["worker_id"] == worker["id"] and after["exit_code"] == 0
    assert "slept: after" in client.logs(actor["id"], after["id"])


def test_stopped_workers_are_reaped_not_zombies(client):
    actor = client.register("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "x"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    client.ok("DELETE", f"/actors/{actor['id']}")
    deadline = time.monotonic() + 20
    while _process_state(worker["pid"]) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _process_state(worker["pid"]) is None, "the worker exited and was reaped"
    assert os.path.exists("/proc/1")


def test_sigkill_of_a_worker_mid_execution_loses_nothing(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "3"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    execution_id = client.send(actor["id"], "survivor")
    deadline = time.monotonic() + 30
    while client.ok("GET", f"/actors/{actor['id']}/executions/{execution_id}")["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the execution never started"
        time.sleep(0.05)
    os.kill(worker["pid"], 9)
    ex = client.wait_execution(actor["id"], execution_id, timeout=90)
    assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0
    assert ex["attempts"] == 2
    assert ex["worker_id"] != worker["id"], "a new worker ran the redelivered message"
    assert "slept: survivor" in client.logs(actor["id"], execution_id)
    deadline = time.monotonic() + 30
    while subprocess.run(["docker", "ps", "-aq", "--filter", f"label=abaco.worker={worker['id']}"],
                         capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "the dead worker's container was not removed"
        time.sleep(0.5)
    workers = client.ok("GET", f"/actors/{actor['id']}/workers")
    assert [w["id"] for w in workers] != [worker["id"]]


def test_sigterm_lets_the_execution_finish_and_queued_work_resumes(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "2"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    running = client.send(actor["id"], "running")
    queued = client.send(actor["id"], "queued")
    deadline = time.monotonic() + 30
    while client.ok("GET", f"/actors/{actor['id']}/executions/{running}")["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the execution never started"
        time.sleep(0.05)
    os.kill(worker["pid"], 15)
    first = client.wait_execution(actor["id"], running, timeout=60)
    assert first["exit_code"] == 0 and first["outcome"] == "SUCCESS" and first["worker_id"] == worker["id"]
    assert first["attempts"] == 1, "a graceful stop finishes the running execution"
    second = client.wait_execution(actor["id"], queued, timeout=90)
    assert second["exit_code"] == 0 and second["worker_id"] != worker["id"]
    assert "slept: queued" in client.logs(actor["id"], queued)
