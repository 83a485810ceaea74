"""Search and list paging over WSGI: /actors/search/{type}, GET /actors, executions and logs."""

import datetime as dt

import pytest

from abaco_registration.app import make_app
from abaco_registration.tests.test_app import AUTH, CFG, call
from abaco_shared import actors, executions, logs, permissions
from abaco_shared.enums import Permission, Role
from abaco_shared.models import Actor


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


@pytest.fixture
def mine(mongo):
    made = []
    for i in range(3):
        actor = actors.create("dev", "alice", {"image": "abaco/echo:latest", "name": f"n{i}"})
        Actor.objects(db_id=actor.db_id).update_one(set__create_time=dt.datetime(2024, 5, 1, i))
        permissions.grant("dev", actor.db_id, "alice", Permission.UPDATE)
        made.append(actor)
    hidden = actors.create("dev", "bob", {"image": "abaco/echo:latest", "name": "bobs"})
    permissions.grant("dev", hidden.db_id, "bob", Permission.UPDATE)
    for n in range(2):
        ex = executions.submit(made[0], f"E{n}", "alice", "str", "hi", {}).load()
        logs.save(ex, f"line {n}", None)
    return made


def test_list_actors_pages_newest_first_with_total(app, mine):
    reply = call(app, "GET", "/actors?limit=2")
    assert reply.status == 200 and reply.headers["X-Total-Count"] == "3"
    assert [a["name"] for a in reply.result] == ["n2", "n1"]
    reply = call(app, "GET", "/actors?limit=2&skip=2&x-nonce=ignored")
    assert [a["name"] for a in reply.result] == ["n0"]
    admin = call(app, "GET", "/actors", roles=(Role.ADMIN,))
    assert admin.headers["X-Total-Count"] == "4"
    assert call(app, "GET", "/actors?limit=-1").status == 400


def test_list_actors_with_other_params_is_a_search(app, mine):
    reply = call(app, "GET", "/actors?name.like=^n[01]$&limit=1")
    assert reply.status == 200
    assert reply.result["_metadata"] == {"total_count": 2, "records_skipped": 0, "record_limit": 1, "count_returned": 1}
    assert [a["name"] for a in reply.result["search"]] == ["n1"]


def test_search_route(app, mine):
    reply = call(app, "GET", "/actors/search/actors?search=N")
    assert [a["name"] for a in reply.result["search"]] == ["n2", "n1", "n0"]
    reply = call(app, "GET", "/actors/v2/search/executions?status=SUBMITTED")
    assert {e["id"] for e in reply.result["search"]} == {"E0", "E1"}
    reply = call(app, "GET", "/actors/search/logs?logs=line 1")
    assert [r["logs"] for r in reply.result["search"]] == ["line 1"]
    assert call(app, "GET", "/actors/search/workers").result["_metadata"]["total_count"] == 0
    assert call(app, "GET", "/actors/search/actors?search=bobs").result["search"] == []
    assert call(app, "GET", "/actors/search/actors?search=bobs", user="bob").result["_metadata"]["total_count"] == 1


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/actors/search/secrets", 404, "Unknown search type"),
        ("/actors/search", 404, "Search a type"),
        ("/actors/search/actors?name[$ne]=x", 400, "name[$ne]"),
        ("/actors/search/actors?revision.gt=abc", 400, "revision.gt"),
        ("/actors/search/actors?name.like=(", 400, "name.like"),
        ("/actors/search/actors?%24where=1", 400, "$where"),
        ("/actors/search/actors?name=%ff", 400, "UTF-8"),
        ("/actors/search/actors?na%00me=1", 400, "NUL"),
        ("/actors/search/actors?skip=9223372036854775808", 400, "skip"),
    ],
)
def test_search_errors(app, mine, path, status, words):
    reply = call(app, "GET", path)
    assert reply.status == status and words in reply.message, reply.body


def test_injection_is_data(app, mine):
    reply = call(app, "GET", '/actors/search/actors?name={"$ne": null}')
    assert reply.status == 200 and reply.result["search"] == []


def test_execution_list_switches_to_search(app, mine):
    actor_id = mine[0].actor_id
    summary = call(app, "GET", f"/actors/{actor_id}/executions?limit=1").result
    assert summary["total_executions"] == 2 and len(summary["executions"]) == 1
    found = call(app, "GET", f"/actors/{actor_id}/executions?id=E1").result
    assert [e["id"] for e in found["search"]] == ["E1"]
    other = call(app, "GET", f"/actors/{mine[1].actor_id}/executions?id=E1").result
    assert other["search"] == []


def test_logs_switch_to_search(app, mine):
    actor_id = mine[0].actor_id
    assert call(app, "GET", f"/actors/{actor_id}/executions/E0/logs").result["logs"] == "line 0"
    found = call(app, "GET", f"/actors/{actor_id}/executions/E0/logs?search=line").result
    assert [r["execution_id"] for r in found["search"]] == ["E0"]
