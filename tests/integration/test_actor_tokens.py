"""Actors calling the API with their own short-lived token (``token: true``), and the worker
credentials clientg keeps for them: issued when a worker starts, revoked when it stops.

The caller image ``abaco/pyactor`` (tests/images/caller.py with sdk/abaco_actor.py) prints one
``CALLER {json}`` line per step: whether it had a token (never the token), the message it sent,
its own execution as the API shows it, and the state it wrote.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from abaco_shared import credentials
from abaco_shared.broker import Broker
from abaco_shared.channels import ClientsChannel
from abaco_shared.config import load_config
from abaco_shared.credentials import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from abaco_shared.messages import ClientRequest
from abaco_shared.store import connect_redis

from .conftest import ROOT

CALLER = "abaco/pyactor:latest"


@pytest.fixture(scope="module")
def cfg():
    return load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})


@pytest.fixture(scope="module")
def redis_client(cfg):
    client = connect_redis(cfg.redis)
    yield client
    client.close()


@pytest.fixture(scope="module")
def clients(cfg):
    broker = Broker(cfg.rabbit.broker_url(), prefix=cfg.rabbit.queue_prefix)
    yield ClientsChannel(broker)
    broker.close()


def caller_steps(client, actor_id: str, execution_id: str) -> dict[str, dict]:
    steps = {}
    for line in client.logs(actor_id, execution_id).splitlines():
        if line.startswith("CALLER "):
            step = json.loads(line[len("CALLER ") :])
            steps[step["step"]] = step
    return steps


def worker_environment(pid: int) -> dict[str, str]:
    """The environment a worker process shows in /proc (this test runs on the worker's host, as
    root)."""
    raw = open(f"/proc/{pid}/environ", "rb").read()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def ask_token(clients, tenant: str, actor_dbid: str, worker_id: str, client_id: str, secret: str):
    req = ClientRequest("token", tenant, actor_dbid, worker_id, client_id=client_id, secret=secret, ttl=60)
    return clients.request(req, timeout=10)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_an_actor_messages_another_and_updates_its_state_with_its_token(
    client, actors, tenant, redis_client, clients, cfg
):
    target = actors("abaco/echo:latest", name="target")
    caller = actors(CALLER, name="caller", token=True, stateless=False)

    ex_id = client.send(caller["id"], {"target": target["id"], "note": "first"})
    ex = client.wait_execution(caller["id"], ex_id, timeout=120)

    steps = caller_steps(client, caller["id"], ex_id)
    assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0, (ex, steps)
    assert steps["context"]["had_token"] is True
    assert "refused" not in steps, steps
    # it read its own execution, as its owner
    assert steps["execution"] == {"step": "execution", "status": "RUNNING", "executor": "alice"}
    # the message it sent ran, executed as the caller's owner
    sent = steps["sent"]
    assert sent["target"] == target["id"]
    target_ex = client.wait_execution(target["id"], sent["execution_id"], timeout=120)
    assert target_ex["status"] == "COMPLETE" and target_ex["exit_code"] == 0
    assert target_ex["executor"] == "alice"
    assert '"from":' in client.logs(target["id"], target_ex["id"]).replace("'", '"')
    # and its state holds what it wrote
    expected = {"count": 1, "last": {"target": target["id"], "note": "first"}, "sent_to": target["id"]}
    assert client.ok("GET", f"/actors/{caller['id']}/state") == {"state": expected}

    # a second message sees the state of the first (and gets a fresh token)
    ex2 = client.wait_execution(caller["id"], client.send(caller["id"], "no target here"), timeout=60)
    assert ex2["exit_code"] == 0
    state = client.ok("GET", f"/actors/{caller['id']}/state")["state"]
    assert state == {"count": 2, "last": "no target here", "sent_to": ""}

    # -- the worker's credential: recorded hashed, usable, then revoked when the worker stops --
    worker_id = ex["worker_id"]
    actor_dbid = f"{tenant}_{caller['id']}"
    stored = credentials.lookup(redis_client, cfg.redis.key_prefix, tenant, worker_id)
    assert stored["actor_dbid"] == actor_dbid and len(stored["secret_sha256"]) == 64
    [worker] = [w for w in client.ok("GET", f"/actors/{caller['id']}/workers") if w["id"] == worker_id]
    # forked by the zygote, the worker got its credential in memory only: nothing in /proc shows it
    env = worker_environment(worker["pid"])
    assert CLIENT_ID_ENV not in env and CLIENT_SECRET_ENV not in env
    # it was usable (both executions above got a fresh token with it); a guessed secret is not
    guessed = ask_token(clients, tenant, actor_dbid, worker_id, stored["client_id"], "guess" * 8)
    assert guessed.status == "error" and not guessed.token

    client.ok("DELETE", f"/actors/{caller['id']}")
    wait_until(
        lambda: not credentials.lookup(redis_client, cfg.redis.key_prefix, tenant, worker_id),
        30,
        "the stopped worker's credential to be revoked",
    )


def test_an_actor_without_token_gets_an_empty_token_and_no_credential(client, actors, tenant, redis_client, cfg):
    plain = actors(CALLER, name="no-token")

    ex = client.wait_execution(plain["id"], client.send(plain["id"], "hello"), timeout=120)

    steps = caller_steps(client, plain["id"], ex["id"])
    assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0
    assert steps["context"]["had_token"] is False and "sent" not in steps
    assert credentials.lookup(redis_client, cfg.redis.key_prefix, tenant, ex["worker_id"]) == {}


def test_the_state_api_is_for_stateful_actors_only(client, actors):
    stateless = actors("abaco/echo:latest")

    resp = client.call("POST", f"/actors/{stateless['id']}/state", json={"a": 1})

    assert resp.status_code == 400 and "is stateless" in resp.json()["message"]
    assert client.call("GET", f"/actors/{stateless['id']}/state").status_code == 400
