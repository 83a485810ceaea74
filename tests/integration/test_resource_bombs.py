"""Fork and memory bombs end FAILED under the containers' default limits, and the platform keeps
serving other tenants while they run.

The bombs are images of their own (tests/images/forkbomb.py and membomb.py, baked into
abaco/forkbomb and abaco/membomb by scripts/build-images.sh); the message carries no code.
"""

from __future__ import annotations

import time
import uuid

import pytest

# another tenant's echo actor must still complete a message within this, while a bomb runs
PROMPT = 10.0


@pytest.fixture
def bystander(make_client):
    """Another tenant's warm echo actor: (client, actor id). Its worker is up before the bomb."""
    other = make_client("bob", f"t{uuid.uuid4().hex[:10]}")
    actor = other.register("abaco/echo:latest")
    ex = other.wait_execution(actor["id"], other.send(actor["id"], "warm-up"), timeout=90)
    assert ex["status"] == "COMPLETE", ex
    yield other, actor["id"]
    other.call("DELETE", f"/actors/{actor['id']}")


def _start_bomb(client, actors, image: str, env: dict[str, str]) -> tuple[str, str]:
    """Register the bomb, send it one message and wait until its container is RUNNING."""
    actor = actors(image, default_environment=env)
    execution_id = client.send(actor["id"], "boom")
    ex = client.wait_execution(actor["id"], execution_id, timeout=90, statuses=("RUNNING", "COMPLETE", "ERROR"))
    assert ex["status"] == "RUNNING", f"the bomb should still be running: {ex}"
    return actor["id"], execution_id


def _assert_platform_serves(bystander) -> None:
    """While a bomb runs: the bystander's message completes promptly and GET /actors answers."""
    other, actor_id = bystander
    started = time.monotonic()
    ex = other.wait_execution(actor_id, other.send(actor_id, "still here"), timeout=PROMPT)
    assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0, ex
    assert "message: still here" in other.logs(actor_id, ex["id"])
    listed = other.ok("GET", "/actors")
    assert actor_id in {a["id"] for a in listed}
    assert time.monotonic() - started < PROMPT, "another tenant was slowed down by the bomb"


def test_a_fork_bomb_hits_the_pids_limit_and_fails(client, actors, bystander):
    actor_id, execution_id = _start_bomb(client, actors, "abaco/forkbomb:latest", {"FORKBOMB_HOLD": "6"})
    _assert_platform_serves(bystander)
    ex = client.wait_execution(actor_id, execution_id, timeout=90)
    assert ex["status"] == "COMPLETE" and ex["outcome"] == "FAILED", ex
    assert ex["exit_code"] == 1, ex
    assert ex["limits"].get("pids"), f"the execution records no pids limit: {ex['limits']}"
    logs = client.logs(actor_id, execution_id)
    assert "fork failed after" in logs and "Resource temporarily unavailable" in logs, logs
    made = int(logs.split("fork failed after ", 1)[1].split()[0])
    assert made < ex["limits"]["pids"], f"made {made} children under a limit of {ex['limits']['pids']}"


def test_a_memory_bomb_is_oom_killed_and_fails(client, actors, bystander):
    actor_id, execution_id = _start_bomb(client, actors, "abaco/membomb:latest", {"MEMBOMB_PAUSE": "0.2"})
    _assert_platform_serves(bystander)
    ex = client.wait_execution(actor_id, execution_id, timeout=120)
    assert ex["status"] == "COMPLETE" and ex["outcome"] == "FAILED", ex
    assert ex["final_state"].get("OOMKilled") is True, ex["final_state"]
    assert ex["status_message"].startswith("OOMKilled"), ex["status_message"]
    assert ex["limits"].get("memory"), ex["limits"]
    logs = client.logs(actor_id, execution_id)
    assert "MB resident" in logs and "never killed" not in logs, logs[-500:]
