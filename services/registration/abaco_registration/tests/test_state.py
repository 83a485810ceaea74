"""GET/POST /actors/{id}/state over WSGI: stateful actors only, any JSON value, bounded size."""

from __future__ import annotations

import json

import pytest

from abaco_shared import permissions
from abaco_shared.enums import Permission, Role
from abaco_shared.models import Actor

from .test_app import CFG, Unreadable, call, create, dbid
from .test_app import app as app  # noqa: F401  (the fixture)


@pytest.fixture
def stateful(app):  # noqa: F811
    return create(app, name="counter", stateless=False)


def state_of(actor) -> object:
    return Actor.objects.get(db_id=dbid(actor)).state


def test_a_new_stateful_actor_has_an_empty_state(app, stateful):  # noqa: F811
    reply = call(app, "GET", f"/actors/{stateful['id']}/state")

    assert reply.status == 200 and reply.result == {"state": {}}


@pytest.mark.parametrize(
    "value",
    [{"count": 1, "seen": ["a", {"b": None}]}, [1, 2, 3], "text", 42, 2.5, True, False, None, {}],
    ids=["object", "list", "string", "int", "float", "true", "false", "null", "empty-object"],
)
def test_post_replaces_the_state_with_any_json_value_and_returns_the_actor(app, stateful, value):  # noqa: F811
    reply = call(app, "POST", f"/actors/{stateful['id']}/state", body=json.dumps(value).encode())

    assert reply.status == 200, reply.json
    assert reply.result["id"] == stateful["id"] and reply.result["state"] == value
    assert state_of(stateful) == value
    assert call(app, "GET", f"/actors/{stateful['id']}/state").result == {"state": value}


def test_post_replaces_rather_than_merges(app, stateful):  # noqa: F811
    path = f"/actors/{stateful['id']}/state"
    call(app, "POST", path, json_body={"a": 1, "b": 2})

    call(app, "POST", path, json_body={"c": 3})

    assert call(app, "GET", path).result == {"state": {"c": 3}}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_stateless_actor_has_no_state_api(app, method):  # noqa: F811
    actor = create(app)

    reply = call(app, method, f"/actors/{actor['id']}/state", json_body={"a": 1})

    assert reply.status == 400 and "is stateless" in reply.message
    assert state_of(actor) == {}


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"a.b": 1}', "'a.b'"),
        (b'{"x": {"$set": 1}}', "'$set'"),
        (b"[" * 60 + b"]" * 60, "nested"),
        (b"1e999", "finite"),
        (b"123456789012345678901234567890", "64 bits"),
    ],
    ids=["empty", "not-json", "dotted-key", "dollar-key", "too-deep", "infinite", "huge-int"],
)
def test_a_bad_state_is_400_and_changes_nothing(app, stateful, body, fragment):  # noqa: F811
    reply = call(app, "POST", f"/actors/{stateful['id']}/state", body=body)

    assert reply.status == 400 and fragment in reply.message
    assert state_of(stateful) == {}


def test_a_state_over_1_mb_is_413_before_it_is_read(app, stateful):  # noqa: F811
    reply = call(app, "POST", f"/actors/{stateful['id']}/state", content_length=1_000_001, stream=Unreadable())

    assert reply.status == 413 and "1000000" in reply.message


def test_a_state_must_fit_in_the_containers_environment(app, stateful):  # noqa: F811
    limit = CFG.http.max_message_length
    path = f"/actors/{stateful['id']}/state"

    assert call(app, "POST", path, json_body="x" * limit).status == 200
    too_big = call(app, "POST", path, json_body={"k": "x" * limit})

    assert too_big.status == 413 and "_abaco_actor_state" in too_big.message and str(limit) in too_big.message
    assert state_of(stateful) == "x" * limit


def test_reading_needs_read_and_writing_needs_update(app, stateful):  # noqa: F811
    path = f"/actors/{stateful['id']}/state"
    permissions.grant("dev", dbid(stateful), "bob", Permission.READ)

    assert call(app, "GET", path, user="bob").status == 200
    assert call(app, "POST", path, user="bob", json_body=1).status == 403
    assert call(app, "GET", path, user="carol").status == 404  # no READ: the actor is invisible
    assert state_of(stateful) == {}


def test_another_tenant_sees_no_state(app, stateful):  # noqa: F811
    path = f"/actors/{stateful['id']}/state"

    assert call(app, "GET", path, tenant="other", roles=(Role.ADMIN,)).status == 404
    assert call(app, "POST", path, tenant="other", roles=(Role.ADMIN,), json_body=1).status == 404


def test_an_unknown_actor_is_404(app):  # noqa: F811
    assert call(app, "GET", "/actors/nope/state").status == 404
