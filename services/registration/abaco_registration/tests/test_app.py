"""The registration API in-process over WSGI, with mongomock records and a memory:// broker."""

import datetime as dt
import io
import json
import urllib.parse
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_registration.app import make_app, page_params
from abaco_shared import executions, logs, permissions, workers
from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.enums import ExecutionOutcome, Permission, Role, WorkerStatus
from abaco_shared.errors import ValidationError
from abaco_shared.executions import Completion
from abaco_shared.models import Actor, Execution, PermissionRecord, Worker
from abaco_shared.testing.wsgi import Reply, Unreadable

CFG = load_config(env={})
AUTH = Authenticator(CFG.auth, b"x" * 32)
IMAGE = "abaco/echo:latest"
T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


def call(app, method, path, *, user="alice", tenant="dev", roles=(Role.USER,), json_body=None, form=None, **kw):
    """One request through the WSGI app; ``user=None`` sends no token."""
    body, ctype = kw.pop("body", b""), kw.pop("content_type", "application/json")
    if json_body is not None:
        body = json.dumps(json_body).encode()
    if form is not None:
        body, ctype = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    path, _, query = path.partition("?")
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE=ctype)
    environ["CONTENT_LENGTH"] = str(kw.pop("content_length", len(body)))
    environ["wsgi.input"] = kw.pop("stream", None) or io.BytesIO(body)
    if user is not None:
        environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, tenant, list(roles))
    assert not kw, kw
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append((status, headers))))
    status, headers = started[0]
    return Reply(int(status.split()[0]), dict(headers), out)


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


def create(app, user="alice", **fields):
    reply = call(app, "POST", "/actors", user=user, json_body={"image": IMAGE, **fields})
    assert reply.status == 200, reply.json
    return reply.result


def dbid(actor, tenant="dev"):
    return f"{tenant}_{actor['id']}"


@pytest.fixture
def actor(app):
    return create(app, name="echo")


# -- POST /actors ----------------------------------------------------------------------------


def test_post_json_registers_an_actor_owned_by_the_caller(app):
    reply = call(app, "POST", "/actors", json_body={"image": IMAGE, "name": "echo", "defaultEnvironment": {"A": 1}})

    assert reply.status == 200 and reply.message == "Actor created successfully."
    result = reply.result
    assert (result["owner"], result["image"], result["name"]) == ("alice", IMAGE, "echo")
    assert (result["status"], result["revision"], result["default_environment"]) == ("SUBMITTED", 1, {"A": "1"})
    assert result["_links"]["self"] == f"{CFG.general.api_server}/actors/v2/{result['id']}"
    assert Actor.objects(db_id=dbid(result)).count() == 1
    assert [w.status for w in workers.list_for_actor(dbid(result))] == [WorkerStatus.REQUESTED.value]
    assert PermissionRecord.objects(object_id=dbid(result), user="alice", level="UPDATE").count() == 1


def test_post_form_fields_registers_an_actor(app):
    reply = call(app, "POST", "/actors", form={"image": IMAGE, "stateless": "false", "hints": "a, b"})

    assert reply.status == 200
    assert (reply.result["stateless"], reply.result["hints"]) == (False, ["a", "b"])
    assert Actor.objects.get(db_id=dbid(reply.result)).stateless is False


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"name": "no image"}, "image"),
        ({"image": IMAGE, "colour": "blue"}, "Unknown field: colour"),
        ({"image": "Not An Image!"}, "Invalid image"),
        ({"image": IMAGE, "stateless": "maybe"}, "Invalid stateless"),
    ],
)
def test_post_with_a_bad_body_is_400_and_registers_nothing(app, body, fragment):
    reply = call(app, "POST", "/actors", json_body=body)

    assert reply.status == 400 and reply.json["status"] == "error"
    assert fragment in reply.message
    assert Actor.objects.count() == 0 and Worker.objects.count() == 0


@pytest.mark.parametrize("body", [b"", b"[1, 2]", b'{"image": '])
def test_post_needs_a_json_object(app, body):
    reply = call(app, "POST", "/actors", body=body)

    assert reply.status == 400 and reply.json["result"] is None


@pytest.mark.parametrize("field, value", [("privileged", True), ("max_workers", 5), ("queue", "special")])
def test_privileged_fields_are_403_for_a_plain_user(app, field, value):
    reply = call(app, "POST", "/actors", json_body={"image": IMAGE, field: value})

    assert reply.status == 403 and field in reply.message
    assert Actor.objects.count() == 0


def test_a_privileged_user_may_set_privileged_fields(app):
    reply = call(app, "POST", "/actors", roles=(Role.PRIVILEGED,), json_body={"image": IMAGE, "maxWorkers": 5})

    assert reply.status == 200 and reply.result["max_workers"] == 5


def test_an_actor_body_over_1_mb_is_413_before_it_is_read(app):
    reply = call(app, "POST", "/actors", content_length=1_000_001, stream=Unreadable())

    assert reply.status == 413 and "1000000" in reply.message


def test_post_without_a_token_is_401(app):
    reply = call(app, "POST", "/actors", user=None, json_body={"image": IMAGE})

    assert reply.status == 401 and Actor.objects.count() == 0


# -- GET /actors -----------------------------------------------------------------------------


@pytest.fixture
def three(app):
    """alice's actor, bob's actor and one in tenant "other"."""
    return create(app, "alice", name="a"), create(app, "bob", name="b"), create_other(app)


def create_other(app):
    reply = call(app, "POST", "/actors", user="eve", tenant="other", json_body={"image": IMAGE, "name": "e"})
    assert reply.status == 200
    return reply.result


def names(reply):
    assert reply.status == 200
    return sorted(a["name"] for a in reply.result)


def test_a_user_lists_only_the_actors_they_can_read(app, three):
    assert names(call(app, "GET", "/actors", user="alice")) == ["a"]
    assert names(call(app, "GET", "/actors", user="bob")) == ["b"]
    assert names(call(app, "GET", "/actors", user="carol")) == []


def test_a_read_grant_or_a_world_grant_makes_an_actor_listed(app, three):
    a, b, _ = three
    permissions.grant("dev", dbid(b), "alice", Permission.READ)
    assert names(call(app, "GET", "/actors", user="alice")) == ["a", "b"]

    permissions.grant("dev", dbid(a), permissions.WORLD, Permission.READ)
    assert names(call(app, "GET", "/actors", user="carol")) == ["a"]


def test_an_admin_lists_every_actor_of_their_tenant_only(app, three):
    assert names(call(app, "GET", "/actors", user="root", roles=(Role.ADMIN,))) == ["a", "b"]
    assert names(call(app, "GET", "/actors", user="eve", tenant="other")) == ["e"]
    assert names(call(app, "GET", "/actors", user="boss", tenant="third", roles=(Role.ADMIN,))) == []


# -- GET, PUT and DELETE /actors/{id} --------------------------------------------------------


def test_get_one_actor(app, actor):
    reply = call(app, "GET", f"/actors/{actor['id']}")

    assert reply.status == 200 and reply.result == actor


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_unknown_actor_is_404(app, actor, method):
    reply = call(app, method, "/actors/NoSuchActor", json_body={"image": IMAGE})

    assert reply.status == 404 and "NoSuchActor" in reply.message


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_tenants_actor_is_404_even_for_its_admin(app, actor, method):
    for user, roles in (("eve", (Role.USER,)), ("boss", (Role.ADMIN,))):
        reply = call(app, method, f"/actors/{actor['id']}", user=user, tenant="other", roles=roles, json_body={})
        assert reply.status == 404
    assert Actor.objects(db_id=dbid(actor)).count() == 1


@pytest.mark.parametrize(
    "method, level",
    [("PUT", Permission.READ), ("PUT", Permission.EXECUTE), ("DELETE", Permission.READ)],
)
def test_a_same_tenant_user_without_the_level_is_403(app, actor, method, level):
    permissions.grant("dev", dbid(actor), "bob", level)

    reply = call(app, method, f"/actors/{actor['id']}", user="bob", json_body={"image": "abaco/echo:2"})

    assert reply.status == 403 and "permission" in reply.message
    stored = Actor.objects.get(db_id=dbid(actor))
    assert (stored.image, stored.revision) == (IMAGE, 1)


def test_an_admin_of_the_tenant_may_delete_any_actor(app, actor):
    reply = call(app, "DELETE", f"/actors/{actor['id']}", user="root", roles=(Role.ADMIN,))

    assert reply.status == 200 and Actor.objects.count() == 0


def test_put_replaces_fields(app, actor):
    reply = call(app, "PUT", f"/actors/{actor['id']}", json_body={"image": IMAGE, "description": "updated"})

    assert reply.status == 200 and reply.message == "Actor updated successfully."
    assert (reply.result["description"], reply.result["revision"], reply.result["owner"]) == ("updated", 1, "alice")
    assert Actor.objects.get(db_id=dbid(actor)).description == "updated"


@pytest.mark.parametrize(
    "force, revision",
    [(None, 1), (False, 1), ("false", 1), ("0", 1), (True, 2), ("true", 2), ("True", 2), ("1", 2)],
)
def test_put_force_flag(app, actor, force, revision):
    body = {"image": IMAGE} if force is None else {"image": IMAGE, "force": force}

    reply = call(app, "PUT", f"/actors/{actor['id']}", json_body=body)

    assert reply.status == 200 and reply.result["revision"] == revision
    assert len(workers.list_for_actor(dbid(actor))) == revision  # a new revision requests a worker


def test_put_force_from_a_form(app, actor):
    reply = call(app, "PUT", f"/actors/{actor['id']}", form={"image": IMAGE, "force": "true"})

    assert reply.status == 200 and reply.result["revision"] == 2


@pytest.mark.parametrize("force", ["yes", 2, "maybe"])
def test_put_with_an_unparsable_force_is_400(app, actor, force):
    reply = call(app, "PUT", f"/actors/{actor['id']}", json_body={"image": IMAGE, "force": force})

    assert reply.status == 400 and "force" in reply.message
    assert Actor.objects.get(db_id=dbid(actor)).revision == 1


def test_put_by_another_updater_keeps_the_owner(app, actor):
    permissions.grant("dev", dbid(actor), "bob", Permission.UPDATE)

    reply = call(app, "PUT", f"/actors/{actor['id']}", user="bob", json_body={"image": "abaco/echo:2"})

    assert reply.status == 200
    assert (reply.result["owner"], reply.result["image"], reply.result["revision"]) == ("alice", "abaco/echo:2", 2)


def test_put_cannot_make_a_stateful_actor_stateless(app):
    actor = create(app, stateless=False)

    reply = call(app, "PUT", f"/actors/{actor['id']}", json_body={"image": IMAGE, "stateless": True})

    assert reply.status == 400 and "stateless" in reply.message


def test_delete_removes_the_actor(app, actor):
    reply = call(app, "DELETE", f"/actors/{actor['id']}")

    assert reply.status == 200
    assert (reply.message, reply.result) == ("Actor deleted successfully.", None)
    assert call(app, "GET", f"/actors/{actor['id']}").status == 404
    assert Worker.objects.count() == 0 and PermissionRecord.objects.count() == 0


# -- executions and logs ---------------------------------------------------------------------


def add_execution(actor, n, cpu=0, io_=0, runtime=0, message="m"):
    """An execution received at T0 + n seconds, complete with the given usage."""
    stored = Actor.objects.get(db_id=dbid(actor))
    ex = executions.submit(stored, f"EX{n}", "bob", "str", message, {"p": str(n)})
    Execution.objects(db_id=ex.db_id).update_one(set__message_received_time=T0 + dt.timedelta(seconds=n))
    done = Completion(ExecutionOutcome.SUCCESS, 0, T0, T0, runtime_ms=runtime, cpu_ns=cpu, io_bytes=io_)
    executions.complete(ex.db_id, done)
    return executions.get_by_key(ex.db_id)


@pytest.fixture
def history(actor):
    return [add_execution(actor, n, cpu=10 * n, io_=100 * n, runtime=n) for n in (1, 2, 3)]


def test_executions_summary_has_totals_and_newest_first(app, actor, history):
    reply = call(app, "GET", f"/actors/{actor['id']}/executions")

    assert reply.status == 200
    summary = reply.result
    assert (summary["actor_id"], summary["owner"]) == (actor["id"], "alice")
    assert (summary["total_executions"], summary["total_cpu"]) == (3, 60)
    assert (summary["total_io"], summary["total_runtime"]) == (600, 6)
    assert [e["id"] for e in summary["executions"]] == ["EX3", "EX2", "EX1"]
    assert summary["executions"][0]["status"] == "COMPLETE"
    assert summary["executions"][0]["message_received_time"] == "2024-05-01T12:00:03.000Z"


@pytest.mark.parametrize(
    "query, ids",
    [("limit=2", ["EX3", "EX2"]), ("limit=2&skip=2", ["EX1"]), ("skip=1", ["EX2", "EX1"]), ("limit=0", [])],
)
def test_executions_are_paginated_but_totals_are_not(app, actor, history, query, ids):
    reply = call(app, "GET", f"/actors/{actor['id']}/executions?{query}")

    assert reply.status == 200
    assert [e["id"] for e in reply.result["executions"]] == ids
    assert reply.result["total_executions"] == 3


@pytest.mark.parametrize("query", ["limit=-1", "limit=1001", "skip=-1", "limit=ten", "skip=1.5"])
def test_bad_pagination_is_400(app, actor, query):
    reply = call(app, "GET", f"/actors/{actor['id']}/executions?{query}")

    assert reply.status == 400 and "limit or skip" in reply.message


def test_executions_need_read(app, actor, history):
    assert call(app, "GET", f"/actors/{actor['id']}/executions", user="bob").status == 404  # invisible
    permissions.grant("dev", dbid(actor), "bob", Permission.READ)
    assert call(app, "GET", f"/actors/{actor['id']}/executions", user="bob").status == 200


def test_one_execution(app, actor, history):
    reply = call(app, "GET", f"/actors/{actor['id']}/executions/EX2")

    assert reply.status == 200
    ex = reply.result
    assert (ex["id"], ex["actor_id"], ex["executor"], ex["status"]) == ("EX2", actor["id"], "bob", "COMPLETE")
    assert (ex["outcome"], ex["cpu"], ex["io"], ex["runtime"]) == ("SUCCESS", 20, 200, 2)
    assert (ex["message"], ex["params"]) == ("m", {"p": "2"})
    assert ex["_links"]["logs"].endswith(f"/actors/v2/{actor['id']}/executions/EX2/logs")


def test_an_unknown_execution_is_404(app, actor, history):
    for path in ("executions/NOPE", "executions/NOPE/logs"):
        reply = call(app, "GET", f"/actors/{actor['id']}/{path}")
        assert reply.status == 404 and "NOPE" in reply.message


def test_another_actors_execution_is_404(app, actor, history):
    other = create(app, name="other")

    assert call(app, "GET", f"/actors/{other['id']}/executions/EX1").status == 404


def test_execution_logs(app, actor, history):
    logs.save(history[0], "hello from EX1\n", None)

    reply = call(app, "GET", f"/actors/{actor['id']}/executions/EX1/logs")
    assert reply.status == 200 and reply.message == "Logs retrieved successfully."
    assert reply.result["logs"] == "hello from EX1\n"
    assert reply.result["_links"]["execution"].endswith(f"/{actor['id']}/executions/EX1")

    assert call(app, "GET", f"/actors/{actor['id']}/executions/EX2/logs").result["logs"] == ""


# -- the HTTP edge ---------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("PATCH", "/actors"), ("POST", "/actors/X"), ("PUT", "/actors")])
def test_a_wrong_method_is_405(app, method, path):
    reply = call(app, method, path)

    assert reply.status == 405 and reply.message == "Invalid HTTP method on requested resource."


def test_an_unknown_path_is_404(app):
    assert call(app, "GET", "/nothing/here").status == 404


def test_options_answers_cors_without_a_token(app, actor):
    reply = call(app, "OPTIONS", f"/actors/{actor['id']}", user=None)

    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in reply.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in reply.headers["Access-Control-Allow-Headers"]


def test_every_answer_carries_cors_and_a_request_id(app):
    reply = call(app, "GET", "/actors", user=None)

    assert reply.status == 401
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["X-Request-Id"]


# -- page_params -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limit, skip, expected",
    [
        (None, None, (100, 0)),
        ("0", "0", (0, 0)),
        ("1000", "7", (1000, 7)),
        (" 5 ", None, (5, 0)),
        (None, "3", (100, 3)),
    ],
)
def test_page_params_accepts(limit, skip, expected):
    assert page_params(limit, skip) == expected


@pytest.mark.parametrize(
    "limit, skip", [("-1", None), ("1001", None), (None, "-1"), ("", None), ("abc", None), (None, "2.0")]
)
def test_page_params_refuses(limit, skip):
    with pytest.raises(ValidationError, match="limit or skip"):
        page_params(limit, skip)
