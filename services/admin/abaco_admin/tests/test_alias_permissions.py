"""/actors/aliases/{alias}/permissions, and aliases in the admin API's actor paths, over WSGI."""

import pytest

from abaco_admin.app import make_app
from abaco_shared import aliases, permissions
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.workflows.aliases import create_alias

from .test_app import AUTH, CFG, call, new_actor, new_worker


@pytest.fixture
def app(mongo):
    return make_app(CFG, AUTH)


@pytest.fixture
def alias(mongo):
    actor = new_actor()
    return create_alias(Principal("alice", "dev", frozenset({Role.USER})), "pub.alias", actor)


def test_get_and_post_alias_permissions(app, alias):
    path = "/actors/aliases/pub.alias/permissions"
    status, body = call(app, "GET", path)
    assert status == 200 and body["result"] == {"alice": "UPDATE"}
    status, body = call(app, "POST", path, body={"user": "bob", "level": "READ"})
    assert status == 200 and body["result"] == {"alice": "UPDATE", "bob": "READ"}
    assert permissions.level_of(Principal("bob", "dev", frozenset({Role.USER})), alias.db_id) == Permission.READ
    # the grant is on the alias, never on its actor
    actor_key = f"dev_{alias.actor_id}"
    assert permissions.map_for("dev", actor_key) == {"alice": "UPDATE"}


def test_the_v2_prefix_works_too(app, alias):
    status, body = call(app, "GET", "/actors/v2/aliases/pub.alias/permissions")
    assert status == 200 and body["result"] == {"alice": "UPDATE"}


def test_the_levels_the_alias_permissions_need(app, alias):
    path = "/actors/aliases/pub.alias/permissions"
    assert call(app, "GET", path, user="bob")[0] == 404  # no READ: as if it did not exist
    permissions.grant("dev", alias.db_id, "bob", Permission.READ)
    assert call(app, "GET", path, user="bob")[0] == 200
    assert call(app, "POST", path, user="bob", body={"user": "bob", "level": "UPDATE"})[0] == 403
    assert call(app, "POST", path, user="root", roles=(Role.ADMIN,), body={"user": "bob", "level": "UPDATE"})[0] == 200
    assert call(app, "GET", path, tenant="other", roles=(Role.ADMIN,))[0] == 404


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"user": "alice", "level": "READ"}, "owns the alias"),
        ({"user": "bob", "level": "ALL"}, "Invalid level"),
        ({"level": "READ"}, "Invalid user"),
    ],
)
def test_bad_grants_are_400(app, alias, body, fragment):
    status, reply = call(app, "POST", "/actors/aliases/pub.alias/permissions", body=body)
    assert status == 400 and fragment in reply["message"]


def test_an_unknown_alias_is_404(app, mongo):
    status, body = call(app, "GET", "/actors/aliases/nope/permissions")
    assert status == 404 and body["message"] == "No alias found with identifier: nope."


def test_workers_and_actor_permissions_through_an_alias(app, mongo):
    actor = new_actor()
    new_worker(actor, "W1")
    aliases.create("dev", "wk", actor.actor_id, "alice")
    status, body = call(app, "GET", "/actors/wk/workers")
    assert status == 200 and [w["id"] for w in body["result"]] == ["W1"]
    assert call(app, "GET", "/actors/wk/workers/W1")[0] == 200
    status, body = call(app, "POST", "/actors/wk/permissions", body={"user": "bob", "level": "READ"})
    assert status == 200 and body["result"] == {"alice": "UPDATE", "bob": "READ"}
    assert call(app, "GET", "/actors/unknown/workers")[0] == 404
