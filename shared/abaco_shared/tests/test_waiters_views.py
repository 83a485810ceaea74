"""Completion signals (Redis), the HTTP views of records, and looking records up for a caller."""

import datetime as dt
import time

import pytest

from abaco_shared import actors, executions, lookup, permissions, views, workers
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import NotFound, PermissionDenied
from abaco_shared.executions import Totals
from abaco_shared.http import display_time
from abaco_shared.models import Actor, Execution, Worker
from abaco_shared.waiters import TTL, CompletionSignals

API = "https://api.example.org"
T0 = dt.datetime(2024, 5, 1, 14, 45, 41, 591234)

# completion signals


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


def test_signal_key_format(signals):
    assert signals.key_for("dev_A_E1") == "abaco:done:dev_A_E1"


def test_notify_sets_a_token_that_expires(signals, redis_client):
    signals.notify("dev_A_E1")
    assert redis_client.lrange("abaco:done:dev_A_E1", 0, -1) == ["1"]
    assert 0 < redis_client.ttl("abaco:done:dev_A_E1") <= TTL


def test_wait_after_notify_returns_at_once_and_leaves_the_token(signals, redis_client):
    signals.notify("dev_A_E1")
    started = time.monotonic()
    assert signals.wait("dev_A_E1", timeout=1) is True
    assert signals.wait("dev_A_E1", timeout=1) is True  # a second waiter sees it too
    assert time.monotonic() - started < 0.5
    assert redis_client.llen("abaco:done:dev_A_E1") >= 1
    assert redis_client.ttl("abaco:done:dev_A_E1") > 0


def test_signals_are_per_execution(signals, redis_client):
    signals.notify("dev_A_E2")
    assert redis_client.exists(signals.key_for("dev_A_E1")) == 0
    assert signals.wait("dev_A_E2", timeout=1) is True


def test_wait_notices_is_done_without_a_signal(signals):
    calls = []

    def is_done():
        calls.append(1)
        return True

    started = time.monotonic()
    assert signals.wait("dev_A_E1", timeout=1, is_done=is_done) is True
    assert calls == [1]
    assert time.monotonic() - started < 1.9


def test_wait_times_out(signals):
    started = time.monotonic()
    assert signals.wait("dev_A_E1", timeout=1, is_done=lambda: False) is False
    assert 0.9 <= time.monotonic() - started < 2.5


def test_wait_with_no_time_left_is_false_at_once(signals):
    signals.notify("dev_A_E1")
    assert signals.wait("dev_A_E1", timeout=0) is False


# views


def test_display_time_is_milliseconds_and_z():
    assert display_time(T0) == "2024-05-01T14:45:41.591Z"
    assert display_time(dt.datetime(2024, 5, 1)) == "2024-05-01T00:00:00.000Z"
    assert display_time(dt.datetime(2024, 5, 1, tzinfo=dt.UTC)) == "2024-05-01T00:00:00.000Z"
    assert display_time(None) is None


@pytest.fixture
def actor():
    return Actor(
        db_id="dev_ACT",
        actor_id="ACT",
        tenant="dev",
        owner="alice",
        image="abaco/echo:latest",
        name="echo",
        revision=3,
        status="READY",
        default_environment={"K": "V"},
        max_workers=2,
        hints=["h"],
        create_time=T0,
        last_update_time=T0 + dt.timedelta(seconds=1),
    )


@pytest.fixture
def ex():
    return Execution(
        db_id="dev_ACT_EX",
        execution_id="EX",
        actor_dbid="dev_ACT",
        tenant="dev",
        executor="bob",
        worker_id="W1",
        status="COMPLETE",
        outcome="SUCCESS",
        message_received_time=T0,
        start_time=T0,
        finish_time=None,
        runtime=12,
        cpu=34,
        io=56,
        exit_code=0,
        final_state={"ExitCode": 0},
        message="hello",
        params={"a": "b"},
        attempts=1,
    )


def test_actor_view(actor):
    v = views.actor_view(actor, API)
    assert v["id"] == "ACT"  # the id, never the tenant-prefixed key
    assert "db_id" not in v and "tenant" not in v and "worker_claim" not in v
    assert (v["name"], v["owner"], v["image"], v["revision"], v["status"]) == (
        "echo",
        "alice",
        "abaco/echo:latest",
        3,
        "READY",
    )
    assert (v["default_environment"], v["max_workers"], v["hints"]) == ({"K": "V"}, 2, ["h"])
    assert (v["stateless"], v["type"], v["queue"], v["token"]) == (True, "none", "default", False)
    assert v["create_time"] == "2024-05-01T14:45:41.591Z"
    assert v["last_update_time"] == "2024-05-01T14:45:42.591Z"
    assert v["_links"] == {
        "self": f"{API}/actors/v2/ACT",
        "executions": f"{API}/actors/v2/ACT/executions",
        "owner": f"{API}/profiles/v2/alice",
    }


def test_worker_view():
    w = Worker(
        db_id="dev_ACT_W1",
        worker_id="W1",
        actor_dbid="dev_ACT",
        tenant="dev",
        status="BUSY",
        ch_name="worker_W1",
        image="img",
        revision=2,
        pid=7,
        host_id="h1",
        create_time=T0,
        last_health_check_time=None,
    )
    v = views.worker_view(w)
    assert (v["id"], v["tenant"], v["actor_id"], v["status"]) == ("W1", "dev", "ACT", "BUSY")
    assert (v["ch_name"], v["image"], v["revision"], v["pid"], v["host_id"]) == ("worker_W1", "img", 2, 7, "h1")
    assert v["create_time"] == "2024-05-01T14:45:41.591Z"
    assert v["last_execution_time"] is None and v["last_health_check_time"] is None


def test_execution_view(actor, ex):
    v = views.execution_view(ex, actor, API)
    assert (v["id"], v["actor_id"], v["api_server"], v["executor"], v["worker_id"]) == (
        "EX",
        "ACT",
        API,
        "bob",
        "W1",
    )
    assert (v["status"], v["outcome"], v["exit_code"], v["attempts"]) == ("COMPLETE", "SUCCESS", 0, 1)
    assert (v["runtime"], v["cpu"], v["io"]) == (12, 34, 56)
    assert (v["message"], v["params"], v["final_state"]) == ("hello", {"a": "b"}, {"ExitCode": 0})
    assert v["message_received_time"] == v["start_time"] == "2024-05-01T14:45:41.591Z"
    assert v["finish_time"] is None
    assert v["_links"] == {
        "self": f"{API}/actors/v2/ACT/executions/EX",
        "logs": f"{API}/actors/v2/ACT/executions/EX/logs",
        "owner": f"{API}/profiles/v2/alice",
    }


def test_executions_summary(actor, ex):
    v = views.executions_summary(actor, Totals(count=5, cpu=1, io=2, runtime=3), [ex], API)
    assert (v["actor_id"], v["owner"], v["api_server"]) == ("ACT", "alice", API)
    assert (v["total_executions"], v["total_cpu"], v["total_io"], v["total_runtime"]) == (5, 1, 2, 3)
    assert v["executions"] == [
        {
            "id": "EX",
            "status": "COMPLETE",
            "outcome": "SUCCESS",
            "message_received_time": "2024-05-01T14:45:41.591Z",
            "start_time": "2024-05-01T14:45:41.591Z",
            "finish_time": None,
        }
    ]
    assert v["_links"]["self"] == f"{API}/actors/v2/ACT/executions"


def test_executions_summary_empty(actor):
    v = views.executions_summary(actor, Totals(), [], API)
    assert (v["total_executions"], v["executions"]) == (0, [])


def test_logs_view(actor, ex):
    v = views.logs_view(actor, ex, "line 1\n", API)
    assert v["logs"] == "line 1\n"
    assert v["_links"] == {
        "self": f"{API}/actors/v2/ACT/executions/EX/logs",
        "execution": f"{API}/actors/v2/ACT/executions/EX",
        "owner": f"{API}/profiles/v2/alice",
    }


def test_message_accepted_view(actor, ex):
    v = views.message_accepted_view(actor, ex, API)
    assert (v["execution_id"], v["msg"]) == ("EX", "hello")
    assert v["_links"] == {
        "self": f"{API}/actors/v2/ACT/executions/EX",
        "messages": f"{API}/actors/v2/ACT/messages",
        "owner": f"{API}/profiles/v2/alice",
    }


def test_mailbox_view(actor):
    v = views.mailbox_view(actor, API, messages=4, unacked=1)
    assert (v["messages"], v["unacked"]) == (4, 1)
    assert v["_links"] == {"self": f"{API}/actors/v2/ACT/messages", "owner": f"{API}/profiles/v2/alice"}


def test_views_of_stored_records_round_trip(mongo, actor):
    # the views work on records read back from the store, not only on fresh documents
    created = actors.create("dev", "alice", {"image": "img"})
    w = workers.create_requested(created, "W9")
    e = executions.submit(created, "E9", "alice", "str", "m", {})
    assert views.worker_view(workers.get(w.db_id))["actor_id"] == created.actor_id
    assert views.execution_view(executions.get_by_key(e.db_id), created, API)["actor_id"] == created.actor_id
    assert views.actor_view(actors.get(created.db_id), API)["id"] == created.actor_id


# lookup


def who(name="bob", tenant="dev", role=Role.USER):
    return Principal(user=name, tenant=tenant, roles=frozenset({role}))


@pytest.fixture
def stored_actor(mongo):
    a = actors.create("dev", "alice", {"image": "img"})
    permissions.grant("dev", a.db_id, "alice", Permission.UPDATE)
    return a


def test_get_actor_for_a_permitted_caller(stored_actor):
    got = lookup.get_actor(who("alice"), stored_actor.actor_id, Permission.UPDATE)
    assert got.db_id == stored_actor.db_id
    assert lookup.get_actor(who("root", role=Role.ADMIN), stored_actor.actor_id, Permission.UPDATE).db_id == (
        stored_actor.db_id
    )


def test_get_actor_missing_is_404(stored_actor):
    with pytest.raises(NotFound) as info:
        lookup.get_actor(who("alice"), "NOPE", Permission.READ)
    assert str(info.value) == "No actor found with identifier: NOPE."
    assert info.value.http_status == 404


@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN])
def test_get_actor_of_another_tenant_is_404(stored_actor, role):
    permissions.grant("other", stored_actor.db_id, "alice", Permission.UPDATE)
    with pytest.raises(NotFound) as info:
        lookup.get_actor(who("alice", "other", role), stored_actor.actor_id, Permission.READ)
    assert str(info.value) == f"No actor found with identifier: {stored_actor.actor_id}."


def test_an_actor_the_caller_may_not_read_is_the_404_of_a_missing_one(stored_actor):
    for needed in (Permission.READ, Permission.UPDATE):
        with pytest.raises(NotFound) as info:
            lookup.get_actor(who("bob"), stored_actor.actor_id, needed)
        assert str(info.value) == f"No actor found with identifier: {stored_actor.actor_id}."


def test_get_actor_with_too_low_a_level_is_403(stored_actor):
    permissions.grant("dev", stored_actor.db_id, "bob", Permission.READ)
    assert lookup.get_actor(who("bob"), stored_actor.actor_id, Permission.READ).db_id == stored_actor.db_id
    with pytest.raises(PermissionDenied, match="you need EXECUTE permission"):
        lookup.get_actor(who("bob"), stored_actor.actor_id, Permission.EXECUTE)


def test_get_execution(stored_actor):
    e = executions.submit(stored_actor, "E1", "alice", "str", "m", {})
    assert lookup.get_execution(stored_actor, "E1").db_id == e.db_id
    with pytest.raises(NotFound) as info:
        lookup.get_execution(stored_actor, "E2")
    assert str(info.value) == "No execution found with identifier: E2."
    assert info.value.http_status == 404


def test_get_execution_of_another_actor_is_404(stored_actor):
    other = actors.create("dev", "alice", {"image": "img"})
    executions.submit(other, "E1", "alice", "str", "m", {})
    with pytest.raises(NotFound):
        lookup.get_execution(stored_actor, "E1")
