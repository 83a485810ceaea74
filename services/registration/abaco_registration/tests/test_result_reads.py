"""GET /actors/{id}/executions/{eid}/results: one raw result per call, in order; ?all=true lists."""

import base64

import pytest

from abaco_shared import permissions, results
from abaco_shared.enums import Permission
from abaco_shared.models import Actor

from .test_app import actor as actor  # noqa: F401  (the fixture)
from .test_app import add_execution, call, dbid
from .test_app import app as app  # noqa: F401  (the fixture)


@pytest.fixture
def ex(app, actor):
    ex = add_execution(actor, 1)
    for seq, data in enumerate((b"one", b"two", b"\x00\xffthree")):
        results.store(ex.db_id, ex.actor_dbid, seq, data)
    return ex


def path(actor, ex_id="EX1", query=""):
    return f"/actors/{actor['id']}/executions/{ex_id}/results{query}"


def test_each_call_pops_the_next_result_raw_then_an_empty_body(app, actor, ex):
    replies = [call(app, "GET", path(actor)) for _ in range(4)]

    assert [r.status for r in replies] == [200] * 4
    assert [r.body for r in replies] == [b"one", b"two", b"\x00\xffthree", b""]
    assert replies[0].headers["Content-Type"] == "application/octet-stream"
    assert replies[0].headers["X-Abaco-Execution-Id"] == "EX1"


def test_all_lists_every_result_in_order_without_consuming(app, actor, ex):
    call(app, "GET", path(actor))  # consumes "one"

    reply = call(app, "GET", path(actor, query="?all=true&limit=2"))

    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    assert reply.headers["X-Total-Count"] == "3"
    listed = reply.result
    assert (listed["execution_id"], listed["total"]) == ("EX1", 3)
    assert [(r["index"], r["size"], r["consumed"]) for r in listed["results"]] == [(0, 3, True), (1, 3, False)]
    assert base64.b64decode(listed["results"][1]["data"]) == b"two"
    assert listed["_links"]["self"].endswith(f"/actors/v2/{actor['id']}/executions/EX1/results")
    rest = call(app, "GET", path(actor, query="?all=true&skip=2")).result["results"]
    assert [base64.b64decode(r["data"]) for r in rest] == [b"\x00\xffthree"]
    assert call(app, "GET", path(actor)).body == b"two"  # listing consumed nothing


def test_an_execution_without_results_answers_empty(app, actor):
    add_execution(actor, 2)

    assert call(app, "GET", path(actor, "EX2")).body == b""
    assert call(app, "GET", path(actor, "EX2", "?all=true")).result["results"] == []


def test_an_unknown_execution_is_404_and_bad_paging_400(app, actor, ex):
    assert call(app, "GET", path(actor, "NOPE")).status == 404
    assert call(app, "GET", path(actor, query="?all=true&limit=-1")).status == 400


def test_results_need_read(app, actor, ex):
    assert call(app, "GET", path(actor), user="bob").status == 404  # the actor is invisible
    permissions.grant("dev", dbid(actor), "bob", Permission.READ)
    assert call(app, "GET", path(actor), user="bob").body == b"one"


def test_deleting_the_actor_deletes_its_results(app, actor, ex):
    assert call(app, "DELETE", f"/actors/{actor['id']}").status == 200

    assert Actor.objects(db_id=dbid(actor)).count() == 0
    assert results.Result.objects(actor_dbid=dbid(actor)).count() == 0
