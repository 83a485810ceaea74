"""POST /actors/{id}/workers (admins: ensure at least num) and DELETE /actors/{id}/workers/{wid}
(a graceful stop), in-process over WSGI with mongomock records and a memory broker."""

import io
import json
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_admin.app import make_app
from abaco_shared import actors, permissions, workers
from abaco_shared.auth import Authenticator
from abaco_shared.channels import CommandChannel, WorkerChannel
from abaco_shared.config import load_config
from abaco_shared.enums import ActorStatus, Permission, Role, WorkerStatus
from abaco_shared.errors import ChannelTimeout
from abaco_shared.messages import SpawnCommand, WorkerCommand
from abaco_shared.models import Worker

CFG = load_config(env={})
AUTH = Authenticator(CFG.auth, b"x" * 32)
ADMIN = (Role.ADMIN,)
LIMIT = CFG.spawner.max_workers_per_actor


def call(app, method, path, *, user="alice", tenant="dev", roles=(Role.USER,), body=None, form=None):
    """One request through the WSGI app: a JSON body, a form, or none. ``(status, JSON body)``."""
    if form is not None:
        raw, ctype = urlencode(form).encode(), "application/x-www-form-urlencoded"
    else:
        raw, ctype = (json.dumps(body).encode() if body is not None else b""), "application/json"
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH=str(len(raw)), CONTENT_TYPE=ctype)
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, tenant, list(roles))
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append(status)))
    return int(started[0].split()[0]), json.loads(out)


def drain(broker, queue):
    bodies = []
    while True:
        try:
            bodies.append(broker.get(queue, 0))
        except ChannelTimeout:
            return bodies


def spawn_commands(broker):
    return [SpawnCommand.from_dict(b) for b in drain(broker, CommandChannel(broker, "default").queue)]


def worker_commands(broker, worker_id):
    return [WorkerCommand.from_dict(b).command for b in drain(broker, WorkerChannel(broker, worker_id).queue)]


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


def new_actor(owner="alice", **fields):
    actor = actors.create("dev", owner, {"image": "abaco/echo:latest", **fields})
    permissions.grant("dev", actor.db_id, owner, Permission.UPDATE)
    return actor


def new_worker(actor, worker_id, status=WorkerStatus.REQUESTED):
    worker = workers.create_requested(actor, worker_id)
    Worker.objects(db_id=worker.db_id).update_one(set__status=status.value)
    return workers.get(worker.db_id)


# -- POST /actors/{id}/workers -----------------------------------------------------------------


def test_an_admin_ensures_num_workers(app, broker):
    actor = new_actor()
    new_worker(actor, "W1", WorkerStatus.READY)

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": 3})

    assert (code, body["status"], body["result"]) == (200, "success", None)
    assert body["message"] == "Scheduled 2 new worker(s) to start. Previously, there were 1 workers."
    assert workers.count_pending(actor.db_id) == 3
    cmds = spawn_commands(broker)
    assert [c.actor_dbid for c in cmds] == [actor.db_id] * 2
    assert {c.worker_id for c in cmds} == {w.worker_id for w in workers.list_for_actor(actor.db_id)} - {"W1"}


def test_enough_workers_schedules_none(app, broker):
    actor = new_actor()
    for wid in ("W1", "W2"):
        new_worker(actor, wid, WorkerStatus.BUSY)

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": 2})

    assert code == 200
    assert body["message"] == "Scheduled 0 new worker(s) to start. Previously, there were 2 workers."
    assert spawn_commands(broker) == []


def test_stopping_or_failed_workers_do_not_count(app, broker):
    actor = new_actor()
    new_worker(actor, "W1", WorkerStatus.SHUTDOWN_REQUESTED)
    new_worker(actor, "W2", WorkerStatus.ERROR)

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": 1})

    assert code == 200 and body["message"].startswith("Scheduled 1 new worker(s)")
    assert len(spawn_commands(broker)) == 1


@pytest.mark.parametrize(
    "request_body",
    [{"body": None}, {"body": {}}, {"body": {"num": None}}, {"form": {}}, {"form": {"num": ""}}],
    ids=["no-body", "empty-object", "null", "empty-form", "blank-form-field"],
)
def test_num_defaults_to_one(app, broker, request_body):
    actor = new_actor()

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, **request_body)

    assert code == 200 and body["message"].startswith("Scheduled 1 new worker(s)")
    assert len(spawn_commands(broker)) == 1


def test_num_from_a_form_or_a_camel_free_json_string(app, broker):
    actor = new_actor()

    assert call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, form={"num": "2"})[0] == 200
    assert call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": "3"})[0] == 200
    assert workers.count_pending(actor.db_id) == 3


@pytest.mark.parametrize("num", [0, -1, LIMIT + 1, 2.5, True, "two", "-1", [], {"n": 1}])
def test_num_outside_one_to_the_per_actor_limit_is_400(app, broker, num):
    actor = new_actor()

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": num})

    assert (code, body["status"]) == (400, "error")
    assert body["message"] == f"num must be an integer from 1 to {LIMIT}."
    assert workers.list_for_actor(actor.db_id) == [] and spawn_commands(broker) == []


def test_a_body_that_is_not_an_object_is_400(app):
    actor = new_actor()

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body=[3])

    assert code == 400 and "JSON object" in body["message"]


def test_num_at_the_limit_is_accepted(app, broker):
    actor = new_actor()

    code, _ = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": LIMIT})

    assert code == 200 and len(spawn_commands(broker)) == LIMIT


def test_a_stateful_actor_gets_one_worker_only(app, broker):
    actor = new_actor(stateless=False)

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": 2})
    assert (code, body["message"]) == (400, "stateful actors can only have 1 worker")

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": 1})
    assert code == 200 and len(spawn_commands(broker)) == 1


@pytest.mark.parametrize("status", [ActorStatus.ERROR, ActorStatus.SHUTTING_DOWN])
def test_an_actor_in_error_or_being_deleted_is_409(app, broker, status):
    actor = new_actor()
    actors.set_status(actor.db_id, status)

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", user="root", roles=ADMIN, body={"num": 1})

    assert code == 409 and status.value in body["message"]
    assert spawn_commands(broker) == []


@pytest.mark.parametrize("role", [Role.USER, Role.PRIVILEGED, Role.LIMITED])
def test_only_admins_may_post_workers(app, broker, role):
    actor = new_actor()  # alice owns it: UPDATE is not enough

    code, body = call(app, "POST", f"/actors/{actor.actor_id}/workers", roles=(role,), body={"num": 1})

    assert (code, body["status"]) == (403, "error")
    assert spawn_commands(broker) == []


def test_an_admin_of_another_tenant_or_an_unknown_actor_is_404(app):
    actor = new_actor()

    assert call(app, "POST", "/actors/NoSuchActor/workers", user="root", roles=ADMIN)[0] == 404
    assert call(app, "POST", f"/actors/{actor.actor_id}/workers", user="boss", tenant="other", roles=ADMIN)[0] == 404


# -- DELETE /actors/{id}/workers/{wid} ---------------------------------------------------------


def test_deleting_a_running_worker_asks_it_to_stop_gracefully(app, broker):
    actor = new_actor()
    new_worker(actor, "W1", WorkerStatus.BUSY)

    code, body = call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W1")

    assert (code, body["message"], body["result"]) == (200, "Worker scheduled to be stopped.", None)
    assert workers.get_for_actor(actor.db_id, "W1").status == WorkerStatus.SHUTDOWN_REQUESTED
    assert worker_commands(broker, "W1") == ["stop-no-delete"]


def test_deleting_a_ready_worker_leaves_the_others(app, broker):
    actor = new_actor()
    new_worker(actor, "W1", WorkerStatus.READY)
    new_worker(actor, "W2", WorkerStatus.READY)

    assert call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W2")[0] == 200

    assert workers.get_for_actor(actor.db_id, "W1").status == WorkerStatus.READY
    assert workers.get_for_actor(actor.db_id, "W2").status == WorkerStatus.SHUTDOWN_REQUESTED
    assert worker_commands(broker, "W1") == [] and worker_commands(broker, "W2") == ["stop-no-delete"]


@pytest.mark.parametrize("status", [WorkerStatus.REQUESTED, WorkerStatus.SPAWNER_SETUP])
def test_a_worker_without_a_process_is_deleted(app, broker, status):
    actor = new_actor()
    new_worker(actor, "W1", status)

    code, body = call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W1")

    assert (code, body["message"]) == (200, "Worker scheduled to be stopped.")
    assert workers.get_for_actor(actor.db_id, "W1") is None
    assert worker_commands(broker, "W1") == []


def test_deleting_an_unknown_worker_is_404(app, broker):
    actor = new_actor()
    new_worker(new_actor("bob"), "W3", WorkerStatus.READY)  # another actor's worker

    for wid in ("NOPE", "W3"):
        code, body = call(app, "DELETE", f"/actors/{actor.actor_id}/workers/{wid}")
        assert (code, body["message"]) == (404, f"No worker found with identifier: {wid}.")
    assert worker_commands(broker, "W3") == []


def test_deleting_a_worker_needs_update_on_the_actor(app, broker):
    actor = new_actor()
    new_worker(actor, "W1", WorkerStatus.READY)

    assert call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W1", user="bob")[0] == 404  # invisible
    permissions.grant("dev", actor.db_id, "bob", Permission.EXECUTE)
    assert call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W1", user="bob")[0] == 403
    assert workers.get_for_actor(actor.db_id, "W1").status == WorkerStatus.READY
    permissions.grant("dev", actor.db_id, "bob", Permission.UPDATE)
    assert call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W1", user="bob")[0] == 200
    assert worker_commands(broker, "W1") == ["stop-no-delete"]


def test_an_admin_deletes_a_worker_without_a_grant(app, broker):
    actor = new_actor()
    new_worker(actor, "W1", WorkerStatus.READY)

    assert call(app, "DELETE", f"/actors/{actor.actor_id}/workers/W1", user="root", roles=ADMIN)[0] == 200


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/actors/admin/workers"), ("DELETE", "/actors/admin/workers/W1")]
)
def test_the_admin_workers_view_is_not_an_actor(app, method, path):
    code, body = call(app, method, path, user="root", roles=ADMIN)

    assert (code, body["message"]) == (405, "Invalid HTTP method on requested resource.")
