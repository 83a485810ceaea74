"""The autoscaler on the live stack: a burst to a slow stateless actor gets more than one worker
(up to its max_workers), idle workers are stopped back to zero, and a stateful actor keeps one.

The health services run the autoscaler with the default idle TTL (300 s); the scale-down part
runs one extra pass in this process with a short TTL against the same stores, so no service is
restarted (its claim per period is the same one the health services take)."""

from __future__ import annotations

import time

from abaco_health.autoscaler import Autoscaler
from abaco_shared.broker import Broker
from abaco_shared.config import HealthConfig, load_config
from abaco_shared.enums import Role
from abaco_shared.store import connect_mongo, disconnect_mongo

ALIVE = ("REQUESTED", "SPAWNER SETUP", "READY", "BUSY")


def _alive(client, actor_id: str) -> list[dict]:
    return [w for w in client.ok("GET", f"/actors/{actor_id}/workers") if w["status"] in ALIVE]


def test_a_burst_scales_out_to_max_workers_then_back_to_zero(make_client, tenant):
    client = make_client("alice", tenant, Role.PRIVILEGED)  # max_workers is a privileged field
    actor = client.register("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "4"}, max_workers=3)
    aid = actor["id"]
    try:
        _burst_then_idle(client, aid)
    finally:
        client.call("DELETE", f"/actors/{aid}")


def _burst_then_idle(client, aid: str) -> None:
    ids = [client.send(aid, f"m{i}") for i in range(8)]
    most = 0
    deadline = time.monotonic() + 60
    while most < 3 and time.monotonic() < deadline:
        most = max(most, len(_alive(client, aid)))
        time.sleep(0.3)
    assert 1 < most <= 3, f"the burst got {most} worker(s)"
    for eid in ids:
        assert client.wait_execution(aid, eid, timeout=120)["exit_code"] == 0
    assert len(_alive(client, aid)) <= 3

    cfg = load_config(env={})
    connect_mongo(cfg.mongo)
    broker = Broker(cfg.rabbit.broker_url(), prefix=cfg.rabbit.queue_prefix)
    try:
        scaler = Autoscaler(HealthConfig(worker_idle_ttl=1), cfg.spawner, broker)
        deadline = time.monotonic() + 60
        while _alive(client, aid) and time.monotonic() < deadline:
            scaler.run()
            time.sleep(1)
        assert _alive(client, aid) == [], "idle workers were stopped down to min_workers (0)"
    finally:
        broker.close()
        disconnect_mongo()
    # a message after scale-to-zero starts a worker at once (cold start), and runs
    assert client.wait_execution(aid, client.send(aid, "again"), timeout=90)["exit_code"] == 0


def test_a_stateful_actor_keeps_one_worker(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "2"}, stateless=False)
    aid = actor["id"]
    ids = [client.send(aid, f"s{i}") for i in range(4)]
    most = 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        most = max(most, len(_alive(client, aid)))
        time.sleep(0.3)
    assert most == 1
    for eid in ids:
        assert client.wait_execution(aid, eid, timeout=120)["exit_code"] == 0
    assert len(_alive(client, aid)) == 1
