"""/actors/admin, /actors/admin/workers, /actors/admin/executions: admins only, their tenant only."""

import pytest

from abaco_admin.app import make_app
from abaco_shared import actors, executions
from abaco_shared.channels import MailboxChannel
from abaco_shared.enums import ExecutionOutcome, Role, WorkerStatus
from abaco_shared.executions import Completion
from abaco_shared.messages import MailboxMessage

from .test_app import AUTH, CFG, call, new_actor, new_worker

ADMIN = {"user": "root", "roles": (Role.ADMIN,)}


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


def run(actor, execution_id, cpu, io, runtime):
    executions.submit(actor, execution_id, "alice", "str", "hi", {})
    done = Completion(ExecutionOutcome.SUCCESS, 0, None, None, runtime, cpu_ns=cpu, io_bytes=io)
    executions.complete(executions.key_for(actor.db_id, execution_id), done)


@pytest.fixture
def tenant(mongo, broker):
    busy, idle, gone = new_actor(), new_actor("bob"), new_actor("carol")
    new_worker(busy, "W1", WorkerStatus.BUSY)
    new_worker(busy, "W2", WorkerStatus.READY)
    new_worker(gone, "W3", WorkerStatus.ERROR)
    run(busy, "E1", cpu=10, io=100, runtime=1000)
    run(busy, "E2", cpu=20, io=200, runtime=2000)
    run(gone, "E3", cpu=5, io=50, runtime=500)
    for n in range(3):
        MailboxChannel(broker, busy.db_id).put(MailboxMessage(execution_id=f"Q{n}", content_type="str", message="m"))
    actors.delete(gone.db_id)  # its executions are kept
    other = new_actor("eve", tenant="other")
    new_worker(other, "W9", WorkerStatus.READY)
    run(other, "E9", cpu=1, io=1, runtime=1)
    return busy, idle, gone


@pytest.mark.parametrize("path", ["/actors/admin", "/actors/admin/workers", "/actors/admin/executions"])
@pytest.mark.parametrize("role", [Role.USER, Role.PRIVILEGED, Role.LIMITED])
def test_only_admins_see_the_admin_views(app, tenant, path, role):
    status, body = call(app, "GET", path, roles=(role,))
    assert status == 403 and body["result"] is None


def test_admin_actors_have_workers_messages_executions_and_runtime(app, tenant):
    busy, idle, _ = tenant
    status, body = call(app, "GET", "/actors/admin", **ADMIN)

    assert status == 200
    got = {a["id"]: a for a in body["result"]}
    assert set(got) == {busy.actor_id, idle.actor_id}  # this tenant's existing actors only
    assert sorted(w["id"] for w in got[busy.actor_id]["workers"]) == ["W1", "W2"]
    assert (got[busy.actor_id]["messages"], got[busy.actor_id]["executions"], got[busy.actor_id]["runtime"]) == (
        3,
        2,
        3000,
    )
    assert (got[idle.actor_id]["workers"], got[idle.actor_id]["messages"], got[idle.actor_id]["executions"]) == (
        [],
        0,
        0,
    )
    assert got[busy.actor_id]["image"] == "abaco/echo:latest"


def test_admin_workers_summary(app, tenant):
    status, body = call(app, "GET", "/actors/admin/workers", **ADMIN)

    assert status == 200
    assert body["result"]["summary"] == {
        "total_workers": 3,
        "ready_workers": 1,
        "requested_workers": 0,
        "error_workers": 1,
        "busy_workers": 1,
        "actors_no_workers": 1,
    }
    assert sorted(w["id"] for w in body["result"]["workers"]) == ["W1", "W2", "W3"]


def test_admin_executions_totals_all_and_existing(app, tenant):
    busy, _, gone = tenant
    status, body = call(app, "GET", "/actors/admin/executions", **ADMIN)

    assert status == 200
    summary = body["result"]["summary"]
    assert summary["all"] == {
        "total_actors": 3,
        "total_executions": 3,
        "total_cpu": 35,
        "total_io": 350,
        "total_runtime": 3500,
    }
    assert summary["existing"] == {
        "total_actors": 2,
        "total_executions": 2,
        "total_cpu": 30,
        "total_io": 300,
        "total_runtime": 3000,
    }
    lines = {a["id"]: a for a in body["result"]["actors"]}
    assert (lines[busy.actor_id]["total_executions"], lines[busy.actor_id]["exists"]) == (2, True)
    assert (lines[gone.actor_id]["total_runtime"], lines[gone.actor_id]["exists"]) == (500, False)


def test_admin_views_are_answered_under_the_v2_and_v3_prefixes(app, tenant):
    for prefix in ("/actors/v2", "/v3/actors"):
        assert call(app, "GET", f"{prefix}/admin/workers", **ADMIN)[0] == 200
