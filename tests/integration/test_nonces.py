"""Nonces through nginx: CRUD, validation, requests authorised by ``?x-nonce`` alone, the
redemption race, and the nonce kept out of the container."""

from __future__ import annotations

import threading

import requests

ECHO = "abaco/echo:latest"


def nonce_call(client, method: str, path: str, nonce_id: str, **kw) -> requests.Response:
    """A request with ``?x-nonce`` and no other credential."""
    params = {**kw.pop("params", {}), "x-nonce": nonce_id}
    return requests.request(method, f"{client.base}{path}", params=params, timeout=30, **kw)


def test_nonce_crud_and_validation(client, actors, tenant):
    actor = actors(ECHO)
    base = f"/actors/{actor['id']}/nonces"
    nonce = client.ok("POST", base, json={"level": "READ", "max_uses": 2, "description": "ci"})
    assert nonce["id"].startswith(tenant + "_")
    assert (nonce["actor_id"], nonce["owner"], nonce["level"], nonce["description"]) == (
        actor["id"],
        "alice",
        "READ",
        "ci",
    )
    assert (nonce["max_uses"], nonce["remaining_uses"], nonce["current_uses"]) == (2, 2, 0)
    assert nonce["last_use_time"] is None and nonce["roles"] == ["user"]
    assert set(nonce["_links"]) >= {"self", "owner"}

    default = client.ok("POST", base)
    assert (default["level"], default["max_uses"]) == ("EXECUTE", -1)
    assert {n["id"] for n in client.ok("GET", base)} == {nonce["id"], default["id"]}
    assert client.ok("GET", f"{base}/{nonce['id']}")["id"] == nonce["id"]
    assert client.ok("GET", f"/actors/v2/{actor['id']}/nonces/{nonce['id']}")["id"] == nonce["id"]

    for body, field in (
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": -2}, "max_uses"),
        ({"max_uses": "lots"}, "max_uses"),
        ({"level": "SUPER"}, "level"),
        ({"description": 1}, "description"),
    ):
        resp = client.call("POST", base, json=body)
        assert resp.status_code == 400 and field in resp.json()["message"], (body, resp.text)

    client.ok("DELETE", f"{base}/{nonce['id']}")
    assert client.call("GET", f"{base}/{nonce['id']}").status_code == 404
    assert client.call("GET", "/actors/nosuchactor1/nonces").status_code == 404


def test_nonce_permissions(make_client, tenant, client, actors):
    actor = actors(ECHO)
    base = f"/actors/{actor['id']}/nonces"
    bob = make_client("bob", tenant)
    assert bob.call("GET", base).status_code == 404
    client.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "READ"})
    assert bob.call("GET", base).status_code == 200
    assert bob.call("POST", base).status_code == 403


def test_a_caller_sees_only_nonces_at_or_below_its_own_level(make_client, tenant, client, actors):
    """A nonce's id is a credential: showing an UPDATE nonce to a READ caller would hand it
    UPDATE. Lists, counts and reads show a caller only the nonces its own level covers."""
    actor = actors(ECHO)
    base = f"/actors/{actor['id']}/nonces"
    made = {level: client.ok("POST", base, json={"level": level}) for level in ("NONE", "READ", "EXECUTE", "UPDATE")}
    bob = make_client("bob", tenant)
    client.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "READ"})
    resp = bob.call("GET", base)
    assert resp.status_code == 200, resp.text
    assert {n["level"] for n in resp.json()["result"]} == {"NONE", "READ"}
    assert resp.headers["X-Total-Count"] == "2"
    for level in ("EXECUTE", "UPDATE"):
        assert bob.call("GET", f"{base}/{made[level]['id']}").status_code == 404
    assert bob.ok("GET", f"{base}/{made['READ']['id']}")["level"] == "READ"

    # a nonce alone never reaches the nonces routes (an UPDATE one would mint unlimited ones),
    # and a refused request uses none of its uses
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/{made['UPDATE']['id']}", None),
        ("POST", base, {"level": "UPDATE"}),
        ("DELETE", f"{base}/{made['READ']['id']}", None),
    ):
        refused = nonce_call(client, method, path, made["UPDATE"]["id"], json=body)
        assert refused.status_code == 401 and "token" in refused.json()["message"], (method, path, refused.text)
    assert client.ok("GET", f"{base}/{made['UPDATE']['id']}")["current_uses"] == 0
    assert len(client.ok("GET", base)) == 4

    client.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "EXECUTE"})
    assert {n["level"] for n in bob.ok("GET", base)} == {"NONE", "READ", "EXECUTE"}
    assert {n["level"] for n in client.ok("GET", base)} == {"NONE", "READ", "EXECUTE", "UPDATE"}


def test_a_message_sent_with_only_a_nonce_runs_as_its_owner_without_the_nonce(client, actors):
    actor = actors(ECHO)
    nonce = client.ok("POST", f"/actors/{actor['id']}/nonces", json={"level": "EXECUTE", "max_uses": 3})
    assert client.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}")["last_use_time"] is None

    resp = nonce_call(
        client, "POST", f"/actors/{actor['id']}/messages", nonce["id"], data={"message": "by nonce"}, params={"k": "v"}
    )
    assert resp.status_code == 200, resp.text
    execution_id = resp.json()["result"]["execution_id"]
    ex = client.wait_execution(actor["id"], execution_id)
    assert ex["executor"] == "alice" and ex["status"] == "COMPLETE"
    assert ex["params"] == {"k": "v"}  # x-nonce is never a parameter, so never in the environment
    logs = client.logs(actor["id"], execution_id)
    assert "message: by nonce" in logs and nonce["id"] not in logs

    used = client.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}")
    assert (used["current_uses"], used["remaining_uses"]) == (1, 2) and used["last_use_time"] is not None


def test_a_read_nonce_cannot_send_and_a_nonce_is_for_its_own_actor(client, actors):
    actor, other = actors(ECHO), actors(ECHO)
    nonce = client.ok("POST", f"/actors/{actor['id']}/nonces", json={"level": "READ"})
    assert nonce_call(client, "GET", f"/actors/{actor['id']}", nonce["id"]).status_code == 200
    refused = nonce_call(client, "POST", f"/actors/{actor['id']}/messages", nonce["id"], data={"message": "x"})
    assert refused.status_code == 403 and refused.json()["status"] == "error"
    assert nonce_call(client, "GET", f"/actors/{other['id']}", nonce["id"]).status_code in (403, 404)
    assert nonce_call(client, "GET", "/actors/search/actors", nonce["id"]).status_code in (401, 403)
    assert nonce_call(client, "GET", "/actors", nonce["id"]).status_code in (401, 403)
    assert nonce_call(client, "GET", f"/actors/{actor['id']}", "nosuchtenant_x").status_code == 401


def test_max_uses_is_honoured(client, actors):
    actor = actors(ECHO)
    nonce = client.ok("POST", f"/actors/{actor['id']}/nonces", json={"level": "READ", "max_uses": 2})
    assert [nonce_call(client, "GET", f"/actors/{actor['id']}", nonce["id"]).status_code for _ in range(3)] == [
        200,
        200,
        401,
    ]
    resp = nonce_call(client, "GET", f"/actors/{actor['id']}", nonce["id"])
    assert "no remaining uses" in resp.json()["message"]
    assert client.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}")["remaining_uses"] == 0


def test_twenty_concurrent_requests_redeem_exactly_five_uses(client, actors):
    actor = actors(ECHO)
    nonce = client.ok("POST", f"/actors/{actor['id']}/nonces", json={"level": "EXECUTE", "max_uses": 5})
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def send():
        start.wait()
        code = nonce_call(
            client, "POST", f"/actors/{actor['id']}/messages", nonce["id"], data={"message": "race"}
        ).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 5, statuses
    assert all(code in (401, 403) for code in statuses if code != 200), statuses
    final = client.ok("GET", f"/actors/{actor['id']}/nonces/{nonce['id']}")
    assert (final["current_uses"], final["remaining_uses"]) == (5, 0)


def test_alias_nonces(client, actors):
    actor = actors(ECHO)
    alias = f"n.{actor['id'][:6].lower()}"
    client.ok("POST", "/actors/aliases", json={"alias": alias, "actor_id": actor["id"]})
    try:
        base = f"/actors/aliases/{alias}/nonces"
        assert client.call("POST", base, json={"level": "UPDATE"}).status_code == 400
        nonce = client.ok("POST", base, json={"level": "EXECUTE", "max_uses": 1})
        assert nonce["alias"] == alias
        assert [n["id"] for n in client.ok("GET", base)] == [nonce["id"]]
        resp = nonce_call(client, "POST", f"/actors/{alias}/messages", nonce["id"], data={"message": "via alias"})
        assert resp.status_code == 200, resp.text
        client.ok("DELETE", f"/actors/aliases/{alias}")
        assert nonce_call(client, "GET", f"/actors/{alias}", nonce["id"]).status_code == 401  # gone with it
    finally:
        client.call("DELETE", f"/actors/aliases/{alias}")


def test_deleting_an_actor_deletes_its_nonces(client):
    actor = client.register(ECHO)
    nonce = client.ok("POST", f"/actors/{actor['id']}/nonces")
    client.ok("DELETE", f"/actors/{actor['id']}")
    assert nonce_call(client, "GET", f"/actors/{actor['id']}", nonce["id"]).status_code == 401
