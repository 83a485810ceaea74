"""/actors/aliases over WSGI, and aliases in actor paths of the registration API."""

import pytest

from abaco_registration.app import make_app
from abaco_shared import aliases, permissions
from abaco_shared.enums import Permission, Role
from abaco_shared.models import Actor, Alias

from .test_app import AUTH, CFG, call, create

API = CFG.general.api_server


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


def new_alias(app, alias, actor_id, user="alice", **kw):
    reply = call(app, "POST", "/actors/aliases", user=user, json_body={"alias": alias, "actor_id": actor_id}, **kw)
    assert reply.status == 200, reply.json
    return reply.result


def test_create_get_list_rebind_delete(app):
    actor, other = create(app, name="one"), create(app, name="two")
    result = new_alias(app, "echo.v1", actor["id"])
    assert {k: result[k] for k in ("alias", "actor_id", "owner")} == {
        "alias": "echo.v1",
        "actor_id": actor["id"],
        "owner": "alice",
    }
    assert result["_links"] == {
        "self": f"{API}/actors/v2/aliases/echo.v1",
        "actor": f"{API}/actors/v2/{actor['id']}",
        "owner": f"{API}/profiles/v2/alice",
    }
    assert permissions.map_for("dev", "dev_echo.v1") == {"alice": "UPDATE"}
    assert call(app, "GET", "/actors/aliases/echo.v1").result["actor_id"] == actor["id"]
    assert [a["alias"] for a in call(app, "GET", "/actors/aliases").result] == ["echo.v1"]

    reply = call(app, "PUT", "/actors/aliases/echo.v1", json_body={"actor_id": other["id"]})
    assert reply.status == 200 and reply.result["actor_id"] == other["id"]
    assert call(app, "GET", "/actors/echo.v1").result["name"] == "two"

    reply = call(app, "DELETE", "/actors/aliases/echo.v1")
    assert reply.status == 200 and reply.message == "Alias deleted successfully."
    assert call(app, "GET", "/actors/aliases/echo.v1").status == 404
    assert permissions.map_for("dev", "dev_echo.v1") == {}


def test_form_bodies_and_the_v2_and_v3_prefixes(app):
    actor = create(app)
    reply = call(app, "POST", "/actors/v2/aliases", form={"alias": "formed", "actor_id": actor["id"]})
    assert reply.status == 200, reply.json
    assert call(app, "GET", "/v3/actors/aliases/formed").result["actor_id"] == actor["id"]
    assert call(app, "GET", "/actors/v2/formed").result["id"] == actor["id"]


def test_the_target_may_be_named_by_an_alias(app):
    actor = create(app)
    new_alias(app, "first", actor["id"])
    assert new_alias(app, "second", "first")["actor_id"] == actor["id"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"actor_id": "X"}, "Invalid alias: the field 'alias' is required"),
        ({"alias": "bad alias"}, "forbidden characters (space)"),
        ({"alias": "messages"}, "reserved word"),
        ({"alias": "x" * 65}, "at most 64"),
        ({"alias": "ok"}, "Invalid actor_id"),
        ({"alias": "ok", "actor_id": ""}, "Invalid actor_id"),
    ],
)
def test_a_bad_body_is_400_naming_the_rule(app, body, fragment):
    reply = call(app, "POST", "/actors/aliases", json_body=body)
    assert reply.status == 400 and fragment in reply.message, reply.message
    assert Alias.objects.count() == 0


def test_an_id_shaped_alias_is_400(app):
    actor = create(app)
    reply = call(app, "POST", "/actors/aliases", json_body={"alias": actor["id"], "actor_id": actor["id"]})
    assert reply.status == 400 and "form of an actor id" in reply.message


def test_a_duplicate_is_400_and_keeps_the_first(app):
    first, second = create(app), create(app)
    new_alias(app, "taken", first["id"])
    reply = call(app, "POST", "/actors/aliases", json_body={"alias": "taken", "actor_id": second["id"]})
    assert reply.status == 400 and "already exists" in reply.message
    assert aliases.get("dev", "taken").actor_id == first["id"]


def test_an_unknown_target_is_the_actor_404(app):
    reply = call(app, "POST", "/actors/aliases", json_body={"alias": "ok", "actor_id": "NoSuchActor"})
    assert reply.status == 404 and reply.message == "No actor found with identifier: NoSuchActor."


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_unknown_alias_is_404(app, method):
    reply = call(app, method, "/actors/aliases/nope", json_body={"actor_id": "X"})
    assert reply.status == 404 and reply.message == "No alias found with identifier: nope."


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_alias_in_an_actor_path_that_does_not_exist_is_the_actor_404(app, method):
    reply = call(app, method, "/actors/nope", json_body={"image": "abaco/echo:latest"})
    assert reply.status == 404 and reply.message == "No actor found with identifier: nope."


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_methods_on_the_collection_are_405(app, method):
    assert call(app, method, "/actors/aliases", json_body={}).status == 405


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_wrong_methods_on_one_alias_are_405(app, method):
    assert call(app, method, "/actors/aliases/foo", json_body={}).status == 405


def test_creating_needs_update_on_the_target(app):
    actor = create(app)
    permissions.grant("dev", f"dev_{actor['id']}", "bob", Permission.EXECUTE)
    reply = call(app, "POST", "/actors/aliases", user="bob", json_body={"alias": "b", "actor_id": actor["id"]})
    assert reply.status == 403
    reply = call(app, "POST", "/actors/aliases", user="carol", json_body={"alias": "c", "actor_id": actor["id"]})
    assert reply.status == 404
    assert Alias.objects.count() == 0


def test_alias_permissions_for_get_put_and_delete(app):
    actor, bobs = create(app), create(app, user="bob")
    new_alias(app, "guarded", actor["id"])
    assert call(app, "GET", "/actors/aliases/guarded", user="bob").status == 404
    permissions.grant("dev", "dev_guarded", "bob", Permission.READ)
    assert call(app, "GET", "/actors/aliases/guarded", user="bob").status == 200
    assert call(app, "DELETE", "/actors/aliases/guarded", user="bob").status == 403
    put = {"actor_id": bobs["id"]}
    assert call(app, "PUT", "/actors/aliases/guarded", user="bob", json_body=put).status == 403

    permissions.grant("dev", "dev_guarded", "bob", Permission.UPDATE)
    assert call(app, "PUT", "/actors/aliases/guarded", user="bob", json_body=put).result["actor_id"] == bobs["id"]
    # UPDATE on the alias is not enough: the new target needs UPDATE too
    reply = call(app, "PUT", "/actors/aliases/guarded", user="bob", json_body={"actor_id": actor["id"]})
    assert reply.status == 404
    assert call(app, "DELETE", "/actors/aliases/guarded", user="bob").status == 200


def test_put_cannot_rename(app):
    actor = create(app)
    new_alias(app, "fixed", actor["id"])
    reply = call(app, "PUT", "/actors/aliases/fixed", json_body={"alias": "other", "actor_id": actor["id"]})
    assert reply.status == 400 and "cannot be renamed" in reply.message
    reply = call(app, "PUT", "/actors/aliases/fixed", json_body={"alias": "fixed", "actor_id": actor["id"]})
    assert reply.status == 200


def test_list_shows_what_the_caller_may_read_paged_newest_first(app):
    actor = create(app)
    for name in ("a", "b", "c"):
        new_alias(app, name, actor["id"])
    bobs = create(app, user="bob")
    new_alias(app, "bobs", bobs["id"], user="bob")

    reply = call(app, "GET", "/actors/aliases?limit=2&skip=1")
    assert reply.status == 200 and reply.headers["X-Total-Count"] == "3"
    assert len(reply.result) == 2
    assert {a["alias"] for a in call(app, "GET", "/actors/aliases").result} == {"a", "b", "c"}
    assert [a["alias"] for a in call(app, "GET", "/actors/aliases", user="bob").result] == ["bobs"]
    admin = call(app, "GET", "/actors/aliases", user="root", roles=(Role.ADMIN,))
    assert len(admin.result) == 4
    assert call(app, "GET", "/actors/aliases", tenant="other").result == []
    assert call(app, "GET", "/actors/aliases?limit=-1").status == 400


def test_an_alias_is_per_tenant(app):
    actor = create(app)
    new_alias(app, "same", actor["id"])
    theirs = create(app, user="zed")
    # another tenant: the actor is not visible there, whatever its name
    reply = call(app, "POST", "/actors/aliases", tenant="other", json_body={"alias": "same", "actor_id": theirs["id"]})
    assert reply.status == 404
    assert call(app, "GET", "/actors/same", tenant="other").status == 404


def test_actor_routes_through_an_alias(app):
    actor = create(app, name="named", stateless=False)
    new_alias(app, "st", actor["id"])
    assert call(app, "GET", "/actors/st").result["id"] == actor["id"]
    assert call(app, "POST", "/actors/st/state", json_body={"n": 1}).status == 200
    assert call(app, "GET", "/actors/st/state").result == {"state": {"n": 1}}
    assert call(app, "GET", "/actors/st/executions").result["actor_id"] == actor["id"]
    assert call(app, "PUT", "/actors/st", json_body={"image": "abaco/echo:latest", "name": "renamed"}).status == 200
    assert call(app, "DELETE", "/actors/st").status == 200
    assert Actor.objects.count() == 0 and Alias.objects.count() == 0
    assert call(app, "GET", "/actors/st").status == 404
