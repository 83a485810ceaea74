"""Search (reference 1.6) and list paging through nginx: every type, operators, metadata,
tenant and permission filtering, and injection attempts (a 400 or plain data, never a 500)."""

from __future__ import annotations

import pytest

from abaco_shared.enums import Role


def search(client, type_name, **params):
    return client.ok("GET", f"/actors/search/{type_name}", params=params)


@pytest.fixture
def ran(client, actors):
    """Two actors of alice's, one of which ran two messages (their logs and a worker exist)."""
    first = actors("abaco/echo:latest", name="search-first", default_environment={"COLOUR": "blue"})
    second = actors("abaco/echo:latest", name="search-second", description="the second one")
    ids = [client.send(first["id"], f"needle-{n}") for n in range(2)]
    for execution_id in ids:
        client.wait_execution(first["id"], execution_id)
    return first, second, ids


def test_actor_search_and_operators(client, ran):
    first, second, _ = ran
    found = search(client, "actors", search="search-")
    assert [a["id"] for a in found["search"]] == [second["id"], first["id"]]  # newest first
    assert found["_metadata"] == {"total_count": 2, "records_skipped": 0, "record_limit": 100, "count_returned": 2}
    assert "tenant" not in found["search"][0] and "_links" in found["search"][0]
    assert [a["id"] for a in search(client, "actors", exactsearch="SECOND ONE")["search"]] == [second["id"]]
    assert [a["id"] for a in search(client, "actors", **{"default_environment.COLOUR": "blue"})["search"]] == [
        first["id"]
    ]
    assert [a["id"] for a in search(client, "actors", **{"name.like": "first$"})["search"]] == [first["id"]]
    assert [a["id"] for a in search(client, "actors", **{"name.nlike": "first$"})["search"]] == [second["id"]]
    assert search(client, "actors", **{"name.in": '["search-first","x"]'})["_metadata"]["total_count"] == 1
    assert search(client, "actors", **{"revision.gte": "1", "stateless": "true"})["_metadata"]["total_count"] == 2
    window = f"{first['create_time']},{first['create_time']}"
    assert [a["id"] for a in search(client, "actors", **{"create_time.between": window})["search"]] == [first["id"]]
    paged = search(client, "actors", search="search-", limit=1, skip=1)
    assert paged["_metadata"] == {"total_count": 2, "records_skipped": 1, "record_limit": 1, "count_returned": 1}
    assert [a["id"] for a in paged["search"]] == [first["id"]]


def test_execution_log_and_worker_search(client, ran):
    first, _, ids = ran
    found = search(client, "executions", actor_id=first["id"], status="COMPLETE", **{"runtime.gte": "0"})
    assert sorted(e["id"] for e in found["search"]) == sorted(ids)
    assert found["search"][0]["actor_id"] == first["id"]
    assert search(client, "executions", **{"exit_code.neq": "0"})["search"] == []
    logs = search(client, "logs", search="needle-1")["search"]
    assert [r["execution_id"] for r in logs] == [ids[1]]
    assert "needle-1" in logs[0]["logs"]
    workers = search(client, "workers", actor_id=first["id"])["search"]
    assert workers and all(w["actor_id"] == first["id"] for w in workers)
    # the list endpoints switch to search mode on other parameters
    scoped = client.ok("GET", f"/actors/{first['id']}/executions", params={"id": ids[0]})
    assert [e["id"] for e in scoped["search"]] == [ids[0]]
    scoped = client.ok("GET", f"/actors/{first['id']}/workers", params={"status.nin": "ERROR"})
    assert scoped["_metadata"]["total_count"] == len(workers)
    scoped = client.ok("GET", f"/actors/{first['id']}/executions/{ids[0]}/logs", params={"search": "needle"})
    assert [r["execution_id"] for r in scoped["search"]] == [ids[0]]
    assert client.ok("GET", "/actors", params={"name": "search-first"})["search"][0]["id"] == first["id"]


def test_actor_list_pages_with_total(client, actors):
    made = [actors("abaco/echo:latest", name=f"page-{n}")["id"] for n in range(3)]
    resp = client.call("GET", "/actors", params={"limit": 2})
    assert resp.status_code == 200 and resp.headers["X-Total-Count"] == "3"
    assert [a["id"] for a in resp.json()["result"]] == made[::-1][:2]
    rest = client.call("GET", "/v3/actors", params={"limit": 2, "skip": 2}).json()["result"]
    assert [a["id"] for a in rest] == made[:1]
    workers = client.call("GET", f"/actors/{made[0]}/workers", params={"limit": 5})
    assert workers.status_code == 200 and "X-Total-Count" in workers.headers


def test_other_tenants_and_unreadable_actors_are_never_returned(client, make_client, tenant, ran):
    first, _, _ = ran
    bob = make_client("bob", tenant)
    assert search(bob, "actors")["search"] == []
    assert search(bob, "executions")["search"] == []
    assert search(bob, "logs", search="needle")["search"] == []
    assert search(bob, "workers")["search"] == []
    assert bob.ok("GET", "/actors") == []
    stranger = make_client("alice", tenant + "x", Role.ADMIN)
    for type_name in ("actors", "executions", "logs", "workers"):
        assert search(stranger, type_name)["_metadata"]["total_count"] == 0
    client.ok("POST", f"/actors/{first['id']}/permissions", json={"user": "bob", "level": "READ"})
    assert [a["id"] for a in search(bob, "actors")["search"]] == [first["id"]]
    admin = make_client("root", tenant, Role.ADMIN)
    assert search(admin, "actors")["_metadata"]["total_count"] == 2


@pytest.mark.parametrize(
    "query",
    [
        "name[$ne]=x",
        "%24where=1",
        "name.%24ne=x",
        "revision.gt=abc",
        "name.like=(",
        "create_time=yesterday",
        "limit=-1",
        "skip=9223372036854775808",
        "name=%ff",
        "default_environment.%24gt=1",
    ],
)
def test_injection_attempts_are_refused(client, ran, query):
    resp = client.call("GET", f"/actors/search/actors?{query}")
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"] == "application/json" and resp.json()["status"] == "error"


@pytest.mark.parametrize("value", ['{"$ne": null}', '{"$gt": ""}', "[]", '["$ne"]'])
def test_operator_values_are_plain_data(client, ran, value):
    for path in ("/actors/search/actors", "/actors"):
        resp = client.call("GET", path, params={"name": value})
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"]["search"] == []


def test_unknown_search_type(client):
    resp = client.call("GET", "/actors/search/secrets")
    assert resp.status_code == 404 and resp.json()["status"] == "error"
    assert client.call("GET", "/actors/search").status_code == 404
