"""The admin API in-process over WSGI, with mongomock records."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_admin.app import make_app
from abaco_shared import actors, permissions, workers
from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.enums import Permission, Role, WorkerStatus
from abaco_shared.models import Worker

CFG = load_config(env={})
AUTH = Authenticator(CFG.auth, b"x" * 32)


def call(app, method, path, *, user="alice", tenant="dev", roles=(Role.USER,), body=None):
    """One request through the WSGI app (a JSON body when given): ``(status, JSON body)``."""
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH=str(len(raw)))
    environ["CONTENT_TYPE"] = "application/json"
    environ["wsgi.input"] = io.BytesIO(raw)
    if user is not None:
        environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, tenant, list(roles))
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append(status)))
    return int(started[0].split()[0]), json.loads(out)


@pytest.fixture
def app(mongo):
    return make_app(CFG, AUTH)


def new_actor(owner="alice", tenant="dev"):
    actor = actors.create(tenant, owner, {"image": "abaco/echo:latest"})
    permissions.grant(tenant, actor.db_id, owner, Permission.UPDATE)
    return actor


def new_worker(actor, worker_id, status=WorkerStatus.REQUESTED, **fields):
    worker = workers.create_requested(actor, worker_id)
    Worker.objects(db_id=worker.db_id).update_one(
        set__status=status.value, **{f"set__{k}": v for k, v in fields.items()}
    )
    return worker


@pytest.fixture
def actor(mongo):
    actor = new_actor()
    new_worker(actor, "W1")
    new_worker(actor, "W2", WorkerStatus.READY, host_id="local", host_ip="10.0.0.5", pid=4321, cid="c0001")
    new_worker(new_actor("bob"), "W3")  # another actor's worker
    return actor


def test_list_workers_of_an_actor(app, actor):
    code, body = call(app, "GET", f"/actors/{actor.actor_id}/workers")

    assert code == 200 and body["status"] == "success"
    assert [(w["id"], w["status"]) for w in body["result"]] == [("W2", "READY"), ("W1", "REQUESTED")]  # newest first
    assert {w["actor_id"] for w in body["result"]} == {actor.actor_id}
    assert {w["tenant"] for w in body["result"]} == {"dev"}


def test_an_actor_without_workers_lists_none(app):
    actor = new_actor()

    code, body = call(app, "GET", f"/actors/{actor.actor_id}/workers")

    assert (code, body["result"]) == (200, [])


def test_one_worker(app, actor):
    code, body = call(app, "GET", f"/actors/{actor.actor_id}/workers/W2")

    assert code == 200
    worker = body["result"]
    assert (worker["id"], worker["actor_id"], worker["status"]) == ("W2", actor.actor_id, "READY")
    assert (worker["host_id"], worker["host_ip"], worker["pid"], worker["cid"]) == ("local", "10.0.0.5", 4321, "c0001")
    assert (worker["ch_name"], worker["image"], worker["revision"]) == ("worker_W2", "abaco/echo:latest", 1)
    assert worker["create_time"].endswith("Z")


def test_an_unknown_worker_is_404(app, actor):
    code, body = call(app, "GET", f"/actors/{actor.actor_id}/workers/NOPE")

    assert code == 404 and body["message"] == "No worker found with identifier: NOPE."


def test_another_actors_worker_is_404_through_this_actor(app, actor):
    code, _ = call(app, "GET", f"/actors/{actor.actor_id}/workers/W3")

    assert code == 404


@pytest.mark.parametrize("path", ["/workers", "/workers/W1"])
def test_workers_need_read_on_the_actor(app, actor, path):
    assert call(app, "GET", f"/actors/{actor.actor_id}{path}", user="bob")[0] == 404  # invisible
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert call(app, "GET", f"/actors/{actor.actor_id}{path}", user="bob")[0] == 200


@pytest.mark.parametrize("path", ["/workers", "/workers/W1"])
def test_an_admin_of_the_tenant_reads_workers_without_a_grant(app, actor, path):
    assert call(app, "GET", f"/actors/{actor.actor_id}{path}", user="root", roles=(Role.ADMIN,))[0] == 200


@pytest.mark.parametrize("path", ["/workers", "/workers/W1"])
def test_unknown_or_other_tenant_actors_are_404_and_no_token_is_401(app, actor, path):
    assert call(app, "GET", f"/actors/NoSuchActor{path}")[0] == 404
    assert (
        call(app, "GET", f"/actors/{actor.actor_id}{path}", user="boss", tenant="other", roles=(Role.ADMIN,))[0] == 404
    )
    assert call(app, "GET", f"/actors/{actor.actor_id}{path}", user=None)[0] == 401


def test_a_worker_cannot_be_replaced(app, actor):  # DELETE and POST: test_worker_pool.py
    code, body = call(app, "PUT", f"/actors/{actor.actor_id}/workers/W1")

    assert code == 405 and body["message"] == "Invalid HTTP method on requested resource."
    assert workers.get_for_actor(actor.db_id, "W1") is not None


# -- permissions ---------------------------------------------------------------------------------
def test_permissions_map_and_grants(app, actor):
    path = f"/actors/{actor.actor_id}/permissions"
    status, reply = call(app, "GET", path)
    assert status == 200 and reply["result"] == {"alice": "UPDATE"}
    status, reply = call(app, "POST", path, body={"user": "bob", "level": "read"})
    assert status == 200 and reply["result"] == {"alice": "UPDATE", "bob": "READ"}
    assert call(app, "GET", f"/actors/{actor.actor_id}/workers", user="bob")[0] == 200
    status, reply = call(app, "POST", path, body={"user": "abaco_world", "level": "EXECUTE"})
    assert reply["result"]["ABACO_WORLD"] == "EXECUTE"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"user": "bob"}, "Invalid level"),
        ({"user": "bob", "level": "OWNER"}, "Invalid level"),
        ({"level": "READ"}, "Invalid user"),
        ({"user": "b o b", "level": "READ"}, "Invalid user"),
        ({"user": "Anonymous", "level": "READ"}, "not a user name"),
        ({"user": "alice", "level": "READ"}, "owns the actor"),
    ],
)
def test_bad_grants_are_400s_naming_the_field(app, actor, body, fragment):
    status, reply = call(app, "POST", f"/actors/{actor.actor_id}/permissions", body=body)
    assert status == 400 and fragment in reply["message"]


def test_granting_needs_update(app, actor):
    call(app, "POST", f"/actors/{actor.actor_id}/permissions", body={"user": "bob", "level": "EXECUTE"})
    path = f"/actors/{actor.actor_id}/permissions"
    assert call(app, "POST", path, body={"user": "bob", "level": "UPDATE"}, user="bob")[0] == 403
