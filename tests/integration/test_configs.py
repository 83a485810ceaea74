"""Actor configs end to end: CRUD, secrets never shown in clear, the UPDATE each named actor needs,
their own permissions, and the values in the containers of the actors they name."""

from __future__ import annotations

import ast
import json

ENVDUMP = "abaco/envdump:latest"  # prints its _actor_configs* variables (tests/images/envdump.py)


def dumped(client, actor_id: str) -> dict[str, str]:
    """Run one execution of an envdump actor; its ``_actor_configs*`` variables."""
    ex = client.wait_execution(actor_id, client.send(actor_id, "go"))
    assert ex["status"] == "COMPLETE", ex
    lines = client.logs(actor_id, ex["id"]).splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_crud_and_a_secret_is_never_shown_in_clear(client, actors):
    actor = actors("abaco/echo:latest")
    created = client.ok(
        "POST",
        "/actors/configs",
        json={"name": "db.creds", "value": "hunter2", "is_secret": True, "actors": actor["id"]},
    )
    assert (created["name"], created["is_secret"], created["actors"], created["owner"]) == (
        "db.creds",
        True,
        actor["id"],
        "alice",
    )
    for path in ("/actors/configs/db.creds", "/actors/configs", "/actors/v2/configs/db.creds", "/v3/actors/configs"):
        resp = client.call("GET", path)
        assert resp.status_code == 200 and "hunter2" not in resp.text, path
    assert created["value"].startswith("gAAAA"), "the stored Fernet ciphertext is shown"

    updated = client.ok("PUT", "/actors/configs/db.creds", json={"value": {"user": "u"}, "is_secret": False})
    assert (updated["value"], updated["is_secret"], updated["actors"]) == ({"user": "u"}, False, actor["id"])
    listed = client.ok("GET", "/actors/configs", params={"limit": 1})
    assert [c["name"] for c in listed] == ["db.creds"]

    assert client.ok("DELETE", "/actors/configs/db.creds") is None
    assert client.call("GET", "/actors/configs/db.creds").status_code == 404
    assert client.call("DELETE", "/actors/configs").status_code == 405


def test_bad_bodies_are_json_400s_naming_the_field(client, actors):
    actor = actors("abaco/echo:latest")
    cases = [
        ({"name": "c", "value": 1, "actors": actor["id"]}, "is_secret"),
        ({"name": "c", "value": 1, "is_secret": "perhaps", "actors": actor["id"]}, "is_secret"),
        ({"name": "bad name", "value": 1, "is_secret": False, "actors": actor["id"]}, "name"),
        ({"name": "utilization", "value": 1, "is_secret": False, "actors": actor["id"]}, "name"),
        ({"name": "c", "value": 1, "is_secret": False, "actors": ""}, "actors"),
        ({"name": "c", "value": 1, "is_secret": False, "actors": "no-such-actor"}, "actors"),
    ]
    for body, field in cases:
        resp = client.call("POST", "/actors/configs", json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.headers["Content-Type"] == "application/json"
        assert f"Invalid {field}" in resp.json()["message"], (body, resp.json())


def test_naming_an_actor_needs_update_on_it_and_configs_have_their_own_permissions(make_client, tenant, client, actors):
    bob = make_client("bob", tenant)
    alices = actors("abaco/echo:latest")
    body = {"name": "shared", "value": 1, "is_secret": False, "actors": alices["id"]}
    assert bob.call("POST", "/actors/configs", json=body).status_code == 400, "an actor bob cannot see: unknown"
    client.ok("POST", f"/actors/{alices['id']}/permissions", json={"user": "bob", "level": "EXECUTE"})
    resp = bob.call("POST", "/actors/configs", json=body)
    assert resp.status_code == 403 and "UPDATE" in resp.json()["message"]
    client.ok("POST", f"/actors/{alices['id']}/permissions", json={"user": "bob", "level": "UPDATE"})
    bob.ok("POST", "/actors/configs", json=body)

    assert client.call("GET", "/actors/configs/shared").status_code == 404, "alice has no level on bob's config"
    assert bob.ok("GET", "/actors/configs/shared/permissions") == {"bob": "UPDATE"}
    bob.ok("POST", "/actors/configs/shared/permissions", json={"user": "alice", "level": "READ"})
    assert client.ok("GET", "/actors/configs/shared")["value"] == 1
    assert client.call("PUT", "/actors/configs/shared", json={"value": 2}).status_code == 403
    assert make_client("bob", tenant + "x").call("GET", "/actors/configs/shared").status_code == 404


def test_values_reach_the_containers_of_the_actors_they_name(client, actors):
    actor = actors(ENVDUMP)
    other = actors(ENVDUMP)
    client.ok("POST", "/actors/aliases", json={"alias": f"dump.{actor['id'][:6].lower()}", "actor_id": actor["id"]})
    alias = f"dump.{actor['id'][:6].lower()}"
    client.ok(
        "POST",
        "/actors/configs",
        json={"name": "plain", "value": {"n": 1, "on": True}, "is_secret": False, "actors": actor["id"]},
    )
    client.ok(
        "POST",
        "/actors/configs",
        json={"name": "secret", "value": "s3cret", "is_secret": True, "actors": f"{alias},{other['id']}"},
    )

    env = dumped(client, actor["id"])
    expected = {"plain": {"n": 1, "on": True}, "secret": "s3cret"}
    assert json.loads(env["_actor_configs_json"]) == expected
    assert ast.literal_eval(env["_actor_configs"]) == expected, "a Python repr, as the original's"
    assert json.loads(dumped(client, other["id"])["_actor_configs_json"]) == {"secret": "s3cret"}

    # deleting the actor takes it (and its alias) out of the configs
    assert client.ok("DELETE", f"/actors/{actor['id']}") is None
    assert client.ok("GET", "/actors/configs/plain")["actors"] == ""
    assert client.ok("GET", "/actors/configs/secret")["actors"] == other["id"]
