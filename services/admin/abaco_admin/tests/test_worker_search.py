"""GET /actors/{id}/workers: paging with X-Total-Count, and worker search given other params."""

import datetime as dt
import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_admin.app import make_app
from abaco_admin.tests.test_app import AUTH, CFG, new_actor, new_worker
from abaco_shared.enums import Role, WorkerStatus
from abaco_shared.models import Worker


def get(app, path, user="alice", roles=(Role.USER,)):
    """``(status, headers, JSON body)`` of one GET."""
    path, _, query = path.partition("?")
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, QUERY_STRING=query, CONTENT_LENGTH="0")
    environ["wsgi.input"] = io.BytesIO(b"")
    environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, "dev", list(roles))
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append((status, headers))))
    return int(started[0][0].split()[0]), dict(started[0][1]), json.loads(out)


@pytest.fixture
def app(mongo):
    return make_app(CFG, AUTH)


@pytest.fixture
def actor(mongo):
    actor = new_actor()
    for i, status in enumerate((WorkerStatus.REQUESTED, WorkerStatus.READY, WorkerStatus.BUSY)):
        worker = new_worker(actor, f"W{i}", status)
        Worker.objects(db_id=worker.db_id).update_one(set__create_time=dt.datetime(2024, 5, 1, i))
    new_worker(new_actor("bob"), "WB")
    return actor


def test_workers_page_newest_first(app, actor):
    status, headers, body = get(app, f"/actors/{actor.actor_id}/workers?limit=2")
    assert status == 200 and headers["X-Total-Count"] == "3"
    assert [w["id"] for w in body["result"]] == ["W2", "W1"]
    _, _, body = get(app, f"/actors/{actor.actor_id}/workers?limit=2&skip=2")
    assert [w["id"] for w in body["result"]] == ["W0"]


def test_workers_search(app, actor):
    _, _, body = get(app, f"/actors/{actor.actor_id}/workers?status.in=READY,BUSY")
    assert body["result"]["_metadata"]["total_count"] == 2
    assert [w["id"] for w in body["result"]["search"]] == ["W2", "W1"]
    status, _, body = get(app, f"/actors/{actor.actor_id}/workers?id[$ne]=x")
    assert status == 400 and "id[$ne]" in body["message"]
