"""Sharing an actor: the permissions API, and ABACO_WORLD granting exactly the level it names."""

from __future__ import annotations

from abaco_shared.enums import Role


def test_grants_give_exactly_their_level(make_client, tenant, actors, client):
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/permissions"
    bob = make_client("bob", tenant)
    assert bob.call("GET", f"/actors/{actor['id']}").status_code == 404  # invisible without READ

    assert client.ok("POST", path, json={"user": "bob", "level": "READ"}) == {"alice": "UPDATE", "bob": "READ"}
    assert bob.ok("GET", f"/actors/{actor['id']}")["id"] == actor["id"]
    assert bob.call("POST", f"/actors/{actor['id']}/messages", data={"message": "no"}).status_code == 403

    client.ok("POST", path, data={"user": "bob", "level": "EXECUTE"})  # form bodies too
    execution = bob.ok("POST", f"/actors/{actor['id']}/messages", data={"message": "yes"})["execution_id"]
    assert client.wait_execution(actor["id"], execution)["executor"] == "bob"
    assert bob.call("DELETE", f"/actors/{actor['id']}").status_code == 403
    assert bob.call("POST", path, json={"user": "bob", "level": "UPDATE"}).status_code == 403


def test_abaco_world_grants_the_level_it_names_and_no_more(make_client, tenant, actors, client):
    actor = actors("abaco/echo:latest")
    carol = make_client("carol", tenant)
    client.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "ABACO_WORLD", "level": "READ"})
    assert carol.ok("GET", f"/actors/{actor['id']}")["id"] == actor["id"]
    assert carol.call("POST", f"/actors/{actor['id']}/messages", data={"message": "x"}).status_code == 403
    assert carol.call("PUT", f"/actors/{actor['id']}", json={"image": "abaco/echo:latest"}).status_code == 403
    stranger = make_client("carol", tenant + "x")  # the same name in another tenant shares nothing
    assert stranger.call("GET", f"/actors/{actor['id']}").status_code == 404
    assert carol.ok("GET", f"/actors/{actor['id']}/permissions")["ABACO_WORLD"] == "READ"


def test_update_does_not_carry_a_privileged_actor_or_the_owners_tokens_to_another_user(make_client, tenant, client):
    """UPDATE lets a user change an actor, but not run code of their own under settings only a
    privileged user may give (use_container_uid, privileged), nor have the owner's tokens sent
    to its containers: turning ``token`` on is the owner's (or an admin's) call."""
    eve = make_client("eve", tenant, Role.PRIVILEGED)
    bob = make_client("bob", tenant)
    tuned = eve.register("abaco/echo:latest", use_container_uid=True)
    plain = client.register("abaco/echo:latest")
    try:
        for owner, actor in ((eve, tuned), (client, plain)):
            owner.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "UPDATE"})
        refused = bob.call("PUT", f"/actors/{tuned['id']}", json={"image": "abaco/sleep:latest"})
        assert refused.status_code == 403 and "use_container_uid" in refused.json()["message"], refused.text
        assert eve.ok("GET", f"/actors/{tuned['id']}")["image"] == "abaco/echo:latest"
        assert eve.ok("PUT", f"/actors/{tuned['id']}", json={"image": "abaco/sleep:latest"})["revision"] == 2

        token = bob.call("PUT", f"/actors/{plain['id']}", json={"image": "abaco/echo:latest", "token": True})
        assert token.status_code == 403 and "owner" in token.json()["message"], token.text
        assert bob.ok("PUT", f"/actors/{plain['id']}", json={"image": "abaco/echo:latest", "description": "ok"})
        assert client.ok("PUT", f"/actors/{plain['id']}", json={"image": "abaco/echo:latest", "token": True})["token"]
    finally:
        eve.call("DELETE", f"/actors/{tuned['id']}")
        client.call("DELETE", f"/actors/{plain['id']}")
