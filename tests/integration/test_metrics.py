"""GET /metrics through nginx (Prometheus text, admins only) and the `abaco-admin workers` command."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from abaco_shared.enums import Role
from abaco_shared.testing.prometheus import parse, value_of

from .conftest import ROOT

FAMILIES = {
    "abaco_mailbox_messages": "gauge",
    "abaco_mailbox_actors_skipped": "gauge",
    "abaco_workers": "gauge",
    "abaco_executions": "gauge",
    "abaco_execution_queue_wait_seconds": "histogram",
    "abaco_execution_container_start_seconds": "histogram",
    "abaco_execution_runtime_seconds": "histogram",
    "abaco_autoscaler_decisions_total": "counter",
    "abaco_metrics_scrape_seconds": "gauge",
}
HISTOGRAMS = [name for name, kind in FAMILIES.items() if kind == "histogram"]


@pytest.fixture
def admin(make_client, tenant):
    return make_client("root", tenant, Role.ADMIN)


def scrape(client) -> dict:
    reply = client.call("GET", "/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(reply.text)  # strict: raises on anything outside the format


def test_metrics_parse_and_carry_every_family(admin):
    families = scrape(admin)

    assert {name: families[name].type for name in FAMILIES} == FAMILIES
    for decision in ("scale_up", "scale_down", "hold", "blocked"):  # the autoscaler's series exist, zero or more
        assert value_of(families, "abaco_autoscaler_decisions_total", decision=decision) is not None
    assert value_of(families, "abaco_workers", status="READY") == 0  # a fresh tenant: its own series only


def test_executions_show_in_the_counts_and_histograms(client, admin, actors):
    before = scrape(admin)
    actor = actors("abaco/sleep:latest")  # an echo can run in under a millisecond: a runtime of 0
    for text in ("one", "two"):
        sent = client.send(actor["id"], text, SLEEP_SECONDS="0.2")
        assert client.wait_execution(actor["id"], sent)["status"] == "COMPLETE"

    after = scrape(admin)

    assert value_of(after, "abaco_executions", status="COMPLETE", outcome="SUCCESS") == 2
    assert value_of(after, "abaco_mailbox_messages", actor=actor["id"]) == 0  # it has a worker: its mailbox is read
    assert (value_of(after, "abaco_workers", status="READY") or 0) + (
        value_of(after, "abaco_workers", status="BUSY") or 0
    ) == 1
    for name in HISTOGRAMS:  # platform-wide counters: other executions may add to them too
        assert value_of(after, f"{name}_count") >= value_of(before, f"{name}_count") + 2, name
        assert value_of(after, f"{name}_sum") > value_of(before, f"{name}_sum"), name


def test_only_admins_read_the_metrics(client, stack):
    denied = client.call("GET", "/metrics")
    assert denied.status_code == 403 and denied.json()["status"] == "error"
    anonymous = client.session.get(f"{stack}/metrics", headers={"Authorization": ""}, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["status"] == "error"


def abaco_admin_workers(tenant: str, as_json: bool = True) -> str:
    args = [str(ROOT / ".venv" / "bin" / "abaco-admin"), "workers", "--tenant", tenant] + (
        ["--json"] if as_json else []
    )
    done = subprocess.run(
        args, cwd=ROOT, env={**os.environ, "ABACO_HOME": str(ROOT)}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_rows(tenant: str, check, what: str, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = json.loads(abaco_admin_workers(tenant))
        if check(rows):
            return rows
        assert time.monotonic() < deadline, f"{what}: {rows}"
        time.sleep(0.5)


def test_abaco_admin_workers_shows_a_running_actors_worker(client, actors, tenant):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "3"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")

    (row,) = wait_rows(tenant, lambda rows: rows and rows[0]["last_heartbeat"], "a worker with a heartbeat")

    assert (row["actor_id"], row["worker_id"], row["tenant"]) == (actor["id"], worker["id"], tenant)
    assert (row["host_id"], row["pid"]) == (worker["host_id"], worker["pid"])
    assert row["status"] in ("READY", "BUSY") and row["heartbeat_age"] < 60
    running = client.send(actor["id"], "nap")
    client.wait_execution(actor["id"], running, statuses=("RUNNING",))
    (busy,) = wait_rows(tenant, lambda rows: rows and rows[0]["container"], "the running container")
    assert busy["status"] == "BUSY"
    table = abaco_admin_workers(tenant, as_json=False).splitlines()
    assert table[0].split() == ["TENANT", "ACTOR", "WORKER", "STATUS", "HOST", "PID", "CONTAINER", "HEARTBEAT"]
    assert any(worker["id"] in line and str(worker["pid"]) in line for line in table[1:])
