"""`abaco-admin workers`: rows from the records, heartbeats from Redis, containers from Docker."""

import json

import pytest

from abaco_shared import actors, admin_cli, worker_report, workers
from abaco_shared.enums import WorkerStatus
from abaco_shared.errors import DockerError
from abaco_shared.models import Worker
from abaco_shared.testing import FakeDocker

NOW = 1_800_000_000.0


def worker(actor, worker_id, status, **fields):
    w = workers.create_requested(actor, worker_id)
    Worker.objects(db_id=w.db_id).update_one(set__status=status.value, **{f"set__{k}": v for k, v in fields.items()})


@pytest.fixture
def records(mongo, redis_client):
    mine = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    theirs = actors.create("other", "eve", {"image": "abaco/echo:latest"})
    worker(mine, "W1", WorkerStatus.BUSY, host_id="node-1", pid=4321)
    worker(mine, "W2", WorkerStatus.REQUESTED)
    worker(theirs, "W9", WorkerStatus.READY, host_id="node-2", pid=99)
    redis_client.set(workers.heartbeat_key("p:", "W1"), str(NOW - 4.2))
    redis_client.set(workers.heartbeat_key("p:", "W9"), "garbage")
    return mine, theirs


def test_rows_carry_actor_host_pid_container_status_and_heartbeat(records, redis_client):
    mine, _ = records

    rows = worker_report.collect(redis_client, "p:", {"W1": "abcdef123456"}, tenant="dev", now=NOW)

    assert [(r.worker_id, r.actor_id, r.status, r.host_id, r.pid, r.container) for r in rows] == [
        ("W1", mine.actor_id, "BUSY", "node-1", 4321, "abcdef123456"),
        ("W2", mine.actor_id, "REQUESTED", "", None, ""),
    ]
    assert rows[0].heartbeat == "4s ago" and rows[0].last_heartbeat.endswith("Z")
    assert (rows[1].heartbeat, rows[1].last_heartbeat) == ("-", None)


def test_every_tenant_and_an_unreadable_heartbeat(records, redis_client):
    rows = worker_report.collect(redis_client, "p:", {}, now=NOW)
    assert [r.worker_id for r in rows] == ["W1", "W2", "W9"]
    assert rows[2].heartbeat_age is None


def test_table_and_json(records, redis_client):
    rows = worker_report.collect(redis_client, "p:", {}, tenant="dev", now=NOW)

    table = worker_report.render_table(rows).splitlines()
    assert table[0].split() == ["TENANT", "ACTOR", "WORKER", "STATUS", "HOST", "PID", "CONTAINER", "HEARTBEAT"]
    assert table[1].split()[2:] == ["W1", "BUSY", "node-1", "4321", "-", "4s", "ago"]
    assert table[2].split()[2:] == ["W2", "REQUESTED", "-", "-", "-", "-"]
    parsed = json.loads(worker_report.render_json(rows))
    assert parsed[0]["worker_id"] == "W1" and parsed[0]["pid"] == 4321 and parsed[1]["last_heartbeat"] is None


def test_running_containers_of_this_install_by_worker():
    docker = FakeDocker()
    running = docker.add_container({"abaco.install": "i1", "abaco.worker": "W1"})
    exited = docker.add_container({"abaco.install": "i1", "abaco.worker": "W2"})
    docker.containers[exited]["State"] = "exited"
    docker.add_container({"abaco.install": "i2", "abaco.worker": "W3"})  # another install

    assert worker_report.running_containers(docker, "i1") == {"W1": running[:12]}


def test_no_engine_no_containers():
    class Down(FakeDocker):
        def list_labelled(self, label):
            raise DockerError("no engine")

    assert worker_report.running_containers(Down(), "i1") == {}


def test_the_command_prints_json(records, redis_client, monkeypatch, capsys):
    monkeypatch.setattr(admin_cli, "connect_mongo", lambda cfg: None)  # the mongomock connection stays
    monkeypatch.setattr(admin_cli, "connect_redis", lambda cfg: redis_client)
    monkeypatch.setattr(admin_cli, "DockerEngine", lambda *a, **kw: FakeDocker())

    assert admin_cli.main(["workers", "--tenant", "DEV", "--json"]) == 0
    assert [row["worker_id"] for row in json.loads(capsys.readouterr().out)] == ["W1", "W2"]
    assert admin_cli.main(["workers"]) == 0
    assert "W9" in capsys.readouterr().out
