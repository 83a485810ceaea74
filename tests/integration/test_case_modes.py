"""Through nginx, in the default snake mode (camel mode is replayed in-process by
``services/registration/abaco_registration/tests/test_camel_mode.py``), and the actor resource
of issue 7 (items 2, 3, 5, 10): PUT keeps what it leaves out, the original's error wording,
execution ids and owner, invisible actors are 404s, utilization and the admin views."""

from __future__ import annotations

from abaco_shared.enums import Role


def test_snake_mode_keys_and_put_keeps_fields(client, actors):
    actor = actors("abaco/echo:latest", name="keeper", description="kept", defaultEnvironment={"A": "1"})
    assert {"default_environment", "max_workers", "status_message", "create_time", "uid", "gid", "tasdir"} <= set(actor)
    assert not [k for k in actor if k != k.lower()], actor

    updated = client.ok("PUT", f"/actors/{actor['id']}", json={"image": "abaco/busybox:latest"})
    assert (updated["name"], updated["description"], updated["default_environment"]) == ("keeper", "kept", {"A": "1"})
    assert (updated["stateless"], updated["revision"]) == (True, 2)

    execution_id = client.send(actor["id"], "hi")
    summary = client.ok("GET", f"/actors/{actor['id']}/executions")
    assert {"actor_id", "total_executions", "total_cpu", "total_io", "total_runtime", "ids"} <= set(summary)
    assert summary["ids"] == [execution_id]
    one = client.ok("GET", f"/actors/{actor['id']}/executions/{execution_id}")
    assert (one["owner"], one["actor_id"]) == ("alice", actor["id"])


def test_the_originals_error_wording(client, make_client, tenant):
    resp = client.call("POST", "/actors", json={})
    assert resp.status_code == 400 and "image is required" in resp.json()["message"]
    priv = make_client("dave", tenant, Role.PRIVILEGED)
    resp = priv.call("POST", "/actors", json={"image": "abaco/echo:latest", "stateless": False, "max_workers": 2})
    assert resp.status_code == 400 and "stateful actors can only have 1 worker" in resp.json()["message"]


def test_utilization_and_admin_views(client, actors, make_client, tenant):
    actor = actors("abaco/echo:latest")
    for prefix in ("/actors", "/actors/v2", "/v3/actors"):
        usage = client.ok("GET", f"{prefix}/utilization")
        assert set(usage) == {"currentActors", "totalActors", "workers", "commandQueue"}
        assert usage["currentActors"] == 1
    root = make_client("root", tenant, Role.ADMIN)
    listed = root.ok("GET", "/actors/admin")
    assert [a["id"] for a in listed] == [actor["id"]]
    assert {"workers", "messages", "executions", "runtime"} <= set(listed[0])
    summary = root.ok("GET", "/actors/admin/workers")["summary"]
    assert set(summary) == {
        "total_workers",
        "ready_workers",
        "requested_workers",
        "error_workers",
        "busy_workers",
        "actors_no_workers",
    }
    assert root.ok("GET", "/actors/admin/executions")["summary"]["existing"]["total_actors"] == 1
    for path in ("/actors/admin", "/actors/admin/workers", "/actors/admin/executions"):
        resp = client.call("GET", path)
        assert resp.status_code == 403 and resp.json()["status"] == "error", path
