"""Nonce routes of the registration API over WSGI, and requests authorised by ``?x-nonce``."""

from __future__ import annotations

import pytest

from abaco_registration.app import make_app
from abaco_shared import aliases, nonces, permissions
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.models import Nonce
from abaco_shared.workflows.registration import delete_actor, register_actor

from .test_app import AUTH, CFG, call

ALICE = Principal("alice", "dev", frozenset({Role.USER}))


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": "abaco/echo:latest", "name": "n"}, broker)


@pytest.fixture
def alias(actor):
    record = aliases.create("dev", "my.alias", actor.actor_id, "alice")
    permissions.grant("dev", record.db_id, "alice", Permission.UPDATE)
    return record


def test_create_list_get_delete_an_actor_nonce(app, actor):
    base = f"/actors/{actor.actor_id}/nonces"
    made = call(app, "POST", base, json_body={"level": "READ", "max_uses": 3, "description": "for ci"})
    assert made.status == 200, made.json
    nonce = made.result
    assert nonce["id"].startswith("dev_") and nonce["actor_id"] == actor.actor_id and nonce["alias"] is None
    assert (nonce["owner"], nonce["roles"], nonce["level"], nonce["description"]) == (
        "alice",
        ["user"],
        "READ",
        "for ci",
    )
    assert (nonce["max_uses"], nonce["remaining_uses"], nonce["current_uses"], nonce["last_use_time"]) == (
        3,
        3,
        0,
        None,
    )
    assert nonce["_links"]["self"].endswith(f"/actors/v2/{actor.actor_id}/nonces/{nonce['id']}")
    assert nonce["api_server"] == CFG.general.api_server

    defaults = call(app, "POST", base).result  # an empty body takes every default
    assert (defaults["level"], defaults["max_uses"], defaults["remaining_uses"]) == ("EXECUTE", -1, -1)
    form = call(app, "POST", base, form={"level": "NONE", "max_uses": "2"}).result
    assert (form["level"], form["max_uses"]) == ("NONE", 2)

    listed = call(app, "GET", base).result
    assert {n["id"] for n in listed} == {nonce["id"], defaults["id"], form["id"]}
    page = call(app, "GET", f"{base}?limit=1&skip=1")
    assert len(page.result) == 1 and page.result[0]["id"] == listed[1]["id"] and page.headers["X-Total-Count"] == "3"
    assert call(app, "GET", f"{base}/{nonce['id']}").result == nonce
    assert call(app, "DELETE", f"{base}/{nonce['id']}").status == 200
    assert call(app, "GET", f"{base}/{nonce['id']}").status == 404
    assert call(app, "DELETE", f"{base}/{nonce['id']}").status == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": -5}, "max_uses"),
        ({"level": "ALL"}, "level"),
        ({"description": ["x"]}, "description"),
        ({"color": 1}, "color"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(app, actor, body, field):
    reply = call(app, "POST", f"/actors/{actor.actor_id}/nonces", json_body=body)
    assert reply.status == 400 and field in reply.message


def test_nonces_need_read_to_see_and_update_to_change(app, actor):
    base = f"/actors/{actor.actor_id}/nonces"
    nid = call(app, "POST", base, json_body={"level": "READ"}).result["id"]
    executes = call(app, "POST", base).result["id"]  # EXECUTE: above what bob will have
    assert call(app, "GET", base, user="bob").status == 404
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    listed = call(app, "GET", base, user="bob")
    assert listed.status == 200 and [n["id"] for n in listed.result] == [nid]
    assert call(app, "GET", f"{base}/{nid}", user="bob").status == 200
    assert call(app, "GET", f"{base}/{executes}", user="bob").status == 404  # its id is a credential
    assert call(app, "GET", f"{base}/{executes}").status == 200
    assert call(app, "POST", base, user="bob").status == 403
    assert call(app, "DELETE", f"{base}/{nid}", user="bob").status == 403
    assert call(app, "GET", base, tenant="other").status == 404


def test_a_nonce_of_another_actor_is_not_found_under_this_one(app, broker, actor):
    other = register_actor(ALICE, {"image": "abaco/echo:latest"}, broker)
    nid = call(app, "POST", f"/actors/{other.actor_id}/nonces").result["id"]
    assert call(app, "GET", f"/actors/{actor.actor_id}/nonces/{nid}").status == 404


def test_alias_nonces(app, actor, alias):
    base = "/actors/aliases/my.alias/nonces"
    assert call(app, "POST", base, json_body={"level": "UPDATE"}).status == 400
    made = call(app, "POST", base, json_body={"level": "EXECUTE", "max_uses": 1})
    assert made.status == 200, made.json
    nonce = made.result
    assert (nonce["alias"], nonce["actor_id"]) == ("my.alias", None)
    assert nonce["_links"]["self"].endswith(f"/actors/v2/aliases/my.alias/nonces/{nonce['id']}")
    assert [n["id"] for n in call(app, "GET", base).result] == [nonce["id"]]
    assert call(app, "GET", f"/actors/{actor.actor_id}/nonces").result == []  # the actor's own are apart
    assert call(app, "GET", f"{base}/{nonce['id']}").result == nonce
    assert call(app, "GET", "/actors/aliases/nope/nonces").status == 404


def test_alias_nonces_need_the_level_on_both_the_alias_and_the_actor(app, actor, alias):
    base = "/actors/aliases/my.alias/nonces"
    permissions.grant("dev", alias.db_id, "bob", Permission.UPDATE)
    assert call(app, "GET", base, user="bob").status == 404  # nothing on the actor
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert call(app, "GET", base, user="bob").status == 200
    assert call(app, "POST", base, user="bob").status == 403
    permissions.grant("dev", actor.db_id, "bob", Permission.UPDATE)
    assert call(app, "POST", base, user="bob").status == 200


# -- requests authorised by a nonce --------------------------------------------------------------


def test_a_nonce_alone_authorises_its_level_on_its_actor(app, broker, actor):
    nid = call(app, "POST", f"/actors/{actor.actor_id}/nonces", json_body={"level": "READ", "max_uses": 2}).result["id"]
    got = call(app, "GET", f"/actors/{actor.actor_id}?x-nonce={nid}", user=None)
    assert got.status == 200 and got.result["id"] == actor.actor_id
    assert (
        call(app, "PUT", f"/actors/{actor.actor_id}?x-nonce={nid}", user=None, json_body={"image": "a/b"}).status == 403
    )
    other = register_actor(ALICE, {"image": "abaco/echo:latest"}, broker)
    assert call(app, "GET", f"/actors/{other.actor_id}?x-nonce={nid}", user=None).status == 403
    assert call(app, "GET", f"/actors?x-nonce={nid}", user=None).status == 401
    assert call(app, "GET", f"/actors/v2/{actor.actor_id}?x-nonce={nid}", user=None).status == 200
    used_up = call(app, "GET", f"/actors/{actor.actor_id}?x-nonce={nid}", user=None)
    assert used_up.status == 401 and "no remaining uses" in used_up.message
    stored = Nonce.objects.get(db_id=nid)
    assert (stored.current_uses, stored.remaining_uses) == (2, 0) and stored.last_use_time is not None


def test_a_token_wins_over_a_nonce(app, actor):
    nid = call(app, "POST", f"/actors/{actor.actor_id}/nonces", json_body={"max_uses": 1}).result["id"]
    assert call(app, "GET", f"/actors/{actor.actor_id}?x-nonce={nid}", user="alice").status == 200
    assert Nonce.objects.get(db_id=nid).current_uses == 0
    # with a token, the token's user is the caller, not the nonce's owner
    assert call(app, "GET", f"/actors/{actor.actor_id}?x-nonce={nid}", user="mallory").status == 404


def test_unknown_and_malformed_nonces_are_401s(app, actor):
    for nid in ("dev_nothing", "nothing", "x" * 500, "dev_%00"):
        reply = call(app, "GET", f"/actors/{actor.actor_id}?x-nonce={nid}", user=None)
        assert reply.status == 401 and reply.json["status"] == "error"


def test_deleting_an_actor_deletes_its_nonces(app, broker, actor):
    call(app, "POST", f"/actors/{actor.actor_id}/nonces")
    assert nonces.count_for("dev", actor.db_id) == 1
    delete_actor(actor, broker)
    assert nonces.count_for("dev", actor.db_id) == 0
