"""Aliases end to end through nginx: CRUD, validation, permissions, aliases in actor paths (under
the three prefixes), the alias race, and the cleanup when the actor is deleted."""

from __future__ import annotations

import threading

import pytest
import requests

from abaco_shared.enums import Role

IMAGE = "abaco/echo:latest"


def create_alias(client, alias: str, actor_id: str, prefix: str = "/actors") -> dict:
    return client.ok("POST", f"{prefix}/aliases", json={"alias": alias, "actor_id": actor_id})


def error(resp, status: int) -> str:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["status"] == "error" and body["result"] is None
    return body["message"]


def test_create_get_list_rebind_and_delete(client, actors):
    first, second = actors(IMAGE, name="first"), actors(IMAGE, name="second")
    made = create_alias(client, "my-echo", first["id"])
    assert {k: made[k] for k in ("alias", "actor_id", "owner")} == {
        "alias": "my-echo",
        "actor_id": first["id"],
        "owner": "alice",
    }
    assert made["_links"]["self"].endswith("/actors/v2/aliases/my-echo")
    assert made["_links"]["actor"].endswith(f"/actors/v2/{first['id']}")
    assert made["_links"]["owner"].endswith("/profiles/v2/alice")

    assert client.ok("GET", "/actors/aliases/my-echo")["actor_id"] == first["id"]
    listed = client.call("GET", "/actors/aliases")
    assert [a["alias"] for a in listed.json()["result"]] == ["my-echo"]
    assert listed.headers["X-Total-Count"] == "1"
    assert client.ok("GET", "/actors/my-echo")["name"] == "first"

    assert client.ok("PUT", "/actors/aliases/my-echo", json={"actor_id": second["id"]})["actor_id"] == second["id"]
    assert client.ok("GET", "/actors/my-echo")["name"] == "second"

    client.ok("DELETE", "/actors/aliases/my-echo")
    assert error(client.call("GET", "/actors/aliases/my-echo"), 404) == "No alias found with identifier: my-echo."
    assert error(client.call("GET", "/actors/my-echo"), 404) == "No actor found with identifier: my-echo."
    assert client.ok("GET", f"/actors/{second['id']}")["id"] == second["id"]  # the actor stays


def test_form_bodies_paging_and_the_other_prefixes(client, actors):
    actor = actors(IMAGE)
    client.ok("POST", "/actors/v2/aliases", data={"alias": "formed", "actor_id": actor["id"]})
    create_alias(client, "third", actor["id"], prefix="/v3/actors")
    assert client.ok("GET", "/v3/actors/aliases/formed")["actor_id"] == actor["id"]
    page = client.call("GET", "/actors/v2/aliases", params={"limit": 1, "skip": 1})
    assert len(page.json()["result"]) == 1 and page.headers["X-Total-Count"] == "2"
    assert [a["alias"] for a in client.ok("GET", "/actors/aliases")] == ["third", "formed"]  # newest first


@pytest.mark.parametrize(
    "alias, rule",
    [
        ("messages", "reserved word"),
        ("aliases", "reserved word"),
        ("Admin", "reserved word"),
        ("has space", "forbidden characters (space)"),
        ("at@sign", "forbidden characters (@)"),
        ("semi;colon", "forbidden characters (;)"),
        ("x" * 65, "at most 64"),
        ("", "'alias' is required"),
        ("..", "dots only"),
    ],
)
def test_a_bad_alias_is_400_naming_the_rule(client, actors, alias, rule):
    actor = actors(IMAGE)
    message = error(client.call("POST", "/actors/aliases", json={"alias": alias, "actor_id": actor["id"]}), 400)
    assert message.startswith("Invalid alias") and rule in message, message


def test_an_alias_may_not_look_like_an_id_and_names_are_unique(client, actors):
    actor, other = actors(IMAGE), actors(IMAGE)
    message = error(client.call("POST", "/actors/aliases", json={"alias": other["id"], "actor_id": actor["id"]}), 400)
    assert "form of an actor id" in message
    assert "Invalid actor_id" in error(client.call("POST", "/actors/aliases", json={"alias": "ok"}), 400)
    create_alias(client, "taken", actor["id"])
    message = error(client.call("POST", "/actors/aliases", json={"alias": "taken", "actor_id": other["id"]}), 400)
    assert "already exists" in message
    assert client.ok("GET", "/actors/aliases/taken")["actor_id"] == actor["id"]


def test_unknown_aliases_are_404_everywhere(client):
    for method in ("GET", "PUT", "DELETE"):
        resp = client.call(method, "/actors/aliases/nope", json={"actor_id": "x"})
        assert error(resp, 404) == "No alias found with identifier: nope."
    assert error(client.call("GET", "/actors/aliases/nope/permissions"), 404) == "No alias found with identifier: nope."
    for path in ("", "/messages", "/executions", "/workers", "/permissions", "/state"):
        assert error(client.call("GET", f"/actors/nope{path}"), 404) == "No actor found with identifier: nope."
    assert error(client.call("POST", "/actors/aliases", json={"alias": "ok", "actor_id": "nope"}), 404)


def test_wrong_methods_are_405(client):
    for method in ("PUT", "DELETE", "PATCH"):
        assert error(client.call(method, "/actors/aliases", json={}), 405)
    assert error(client.call("POST", "/actors/aliases/some.alias", json={}), 405)


def test_messages_executions_and_logs_through_a_dotted_alias_under_every_prefix(client, actors):
    actor = actors(IMAGE)
    create_alias(client, "echo.v1.2", actor["id"])
    for prefix in ("/actors", "/actors/v2", "/v3/actors"):
        text = f"hello via {prefix}"
        ex_id = client.ok("POST", f"{prefix}/echo.v1.2/messages", data={"message": text})["execution_id"]
        deadline_status = client.wait_execution("echo.v1.2", ex_id)["status"]
        assert deadline_status == "COMPLETE"
        ex = client.ok("GET", f"{prefix}/echo.v1.2/executions/{ex_id}")
        assert ex["actor_id"] == actor["id"]
        assert text in client.ok("GET", f"{prefix}/echo.v1.2/executions/{ex_id}/logs")["logs"]
        assert ex_id in client.ok("GET", f"{prefix}/echo.v1.2/executions")["ids"]
    assert "messages" in client.ok("GET", "/actors/echo.v1.2/messages")
    assert client.ok("GET", "/actors/v2/echo.v1.2/workers")  # at least the worker that ran them
    assert client.ok("GET", "/v3/actors/echo.v1.2/permissions") == {"alice": "UPDATE"}


def test_the_state_through_an_alias(client, actors):
    actor = actors(IMAGE, stateless=False)
    create_alias(client, "stateful", actor["id"])
    client.ok("POST", "/actors/stateful/state", json={"n": 1})
    assert client.ok("GET", f"/actors/{actor['id']}/state") == {"state": {"n": 1}}


def test_permissions_of_aliases(make_client, tenant, client, actors):
    bob = make_client("bob", tenant)
    actor = actors(IMAGE)
    bobs = bob.register(IMAGE)
    try:
        # creating needs UPDATE on the target: none is the actor 404, READ is a 403
        error(bob.call("POST", "/actors/aliases", json={"alias": "b", "actor_id": actor["id"]}), 404)
        client.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "READ"})
        error(bob.call("POST", "/actors/aliases", json={"alias": "b", "actor_id": actor["id"]}), 403)

        create_alias(client, "guarded", actor["id"])
        error(bob.call("GET", "/actors/aliases/guarded"), 404)  # no READ on the alias
        assert bob.ok("GET", "/actors/guarded")["id"] == actor["id"]  # the actor's own level counts
        error(bob.call("POST", "/actors/guarded/messages", data={"message": "x"}), 403)
        assert [a["alias"] for a in bob.ok("GET", "/actors/aliases")] == []

        perms = "/actors/aliases/guarded/permissions"
        assert client.ok("POST", perms, json={"user": "bob", "level": "READ"}) == {"alice": "UPDATE", "bob": "READ"}
        assert bob.ok("GET", "/actors/aliases/guarded")["actor_id"] == actor["id"]
        assert bob.ok("GET", perms) == {"alice": "UPDATE", "bob": "READ"}
        assert [a["alias"] for a in bob.ok("GET", "/actors/aliases")] == ["guarded"]
        error(bob.call("POST", perms, json={"user": "bob", "level": "UPDATE"}), 403)
        error(bob.call("PUT", "/actors/aliases/guarded", json={"actor_id": bobs["id"]}), 403)
        error(bob.call("DELETE", "/actors/aliases/guarded"), 403)
        error(client.call("POST", perms, json={"user": "alice", "level": "READ"}), 400)

        client.ok("POST", perms, data={"user": "bob", "level": "UPDATE"})
        # PUT needs UPDATE on the new actor as well: bob has READ only on alice's actor
        assert bob.ok("PUT", "/actors/aliases/guarded", json={"actor_id": bobs["id"]})["actor_id"] == bobs["id"]
        error(bob.call("PUT", "/actors/aliases/guarded", json={"actor_id": actor["id"]}), 403)
        # alice keeps UPDATE on the alias, but not on bob's actor it now names
        error(client.call("GET", "/actors/guarded"), 404)
        bob.ok("DELETE", "/actors/aliases/guarded")

        # another tenant sees nothing, even its admin
        create_alias(client, "mine", actor["id"])
        outsider = make_client("root", tenant + "x", Role.ADMIN)
        error(outsider.call("GET", "/actors/aliases/mine"), 404)
        error(outsider.call("GET", "/actors/mine"), 404)
        assert outsider.ok("GET", "/actors/aliases") == []
        admin = make_client("root", tenant, Role.ADMIN)
        assert admin.ok("GET", "/actors/aliases/mine")["owner"] == "alice"
    finally:
        bob.call("DELETE", f"/actors/{bobs['id']}")


def test_the_alias_race_has_exactly_one_winner(client, actors):
    actor = actors(IMAGE)
    statuses: list[int] = []
    start = threading.Barrier(20)

    def attempt() -> None:
        body = {"alias": "race", "actor_id": actor["id"]}
        with requests.Session() as session:  # one per thread: a Session is not thread-safe
            session.headers.update(client.session.headers)
            start.wait()
            statuses.append(session.post(f"{client.base}/actors/aliases", json=body, timeout=30).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [400] * 19, statuses
    assert [a["alias"] for a in client.ok("GET", "/actors/aliases")] == ["race"]


def test_deleting_the_actor_deletes_its_aliases(client, actors):
    actor, other = actors(IMAGE), actors(IMAGE)
    for name in ("gone.one", "gone-two"):
        create_alias(client, name, actor["id"])
    create_alias(client, "stays", other["id"])
    client.ok("DELETE", "/actors/gone.one")  # deleted through one of its aliases
    for name in ("gone.one", "gone-two"):
        error(client.call("GET", f"/actors/aliases/{name}"), 404)
    assert [a["alias"] for a in client.ok("GET", "/actors/aliases")] == ["stays"]
    # the names are free again
    assert create_alias(client, "gone.one", other["id"])["actor_id"] == other["id"]
