"""DELETE on an execution force-quits it (only while RUNNING); the legacy manual add."""

from __future__ import annotations


def test_force_quit_a_running_execution(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "30"})
    eid = client.send(actor["id"], "long")
    client.wait_execution(actor["id"], eid, timeout=60, statuses=("RUNNING",))
    reply = client.call("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["message"] == f"Issued force quit command for execution {eid}."
    ex = client.wait_execution(actor["id"], eid, timeout=60)
    assert ex["status"] == "COMPLETE" and ex["outcome"] == "FORCE_QUIT" and ex["runtime"] < 30_000
    again = client.call("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    assert again.status_code == 400 and "only a RUNNING one" in again.json()["message"]


def test_the_legacy_manual_add_counts_in_the_summary(client, actors):
    actor = actors("abaco/echo:latest")
    client.ok("POST", f"/actors/{actor['id']}/executions", json={"runtime": 10, "cpu": 20, "io": 30})
    summary = client.ok("GET", f"/actors/{actor['id']}/executions")
    assert (summary["total_executions"], summary["total_cpu"], summary["total_io"]) == (1, 20, 30)
    bad = client.call("POST", f"/actors/{actor['id']}/executions", json={"runtime": 1})
    assert bad.status_code == 400 and "cpu" in bad.json()["message"]
