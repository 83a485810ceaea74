"""GET /actors/{id}/messages?count=N: the next pending messages, read from their executions."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from abaco_messages.app import make_app
from abaco_messages.peek import MAX_PEEK, parse_count
from abaco_shared import executions, permissions
from abaco_shared.enums import ExecutionOutcome, Permission
from abaco_shared.errors import ValidationError
from abaco_shared.models import Execution
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows.registration import register_actor

from .test_app import ALICE, AUTH, CFG, IMAGE, call, queued

T0 = dt.datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture
def app(mongo, broker, redis_client):
    return make_app(CFG, AUTH, broker, CompletionSignals(redis_client, "abaco:"))


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": IMAGE}, broker)


@pytest.fixture
def path(actor):
    return f"/actors/{actor.actor_id}/messages"


def send(app, path, body, content_type="text/plain", query=""):
    """Send a message; each one is received a second after the one before (a stable order)."""
    reply = call(app, "POST", f"{path}{query}", body, content_type=content_type)
    assert reply.status == 200, reply.json
    execution_id = reply.result["execution_id"]
    Execution.objects(execution_id=execution_id).update_one(
        set__message_received_time=T0 + dt.timedelta(seconds=Execution.objects.count())
    )
    return execution_id


@pytest.mark.parametrize("raw, expected", [(None, None), ("1", 1), (" 7 ", 7), (str(MAX_PEEK), MAX_PEEK)])
def test_count_is_absent_or_1_to_100(raw, expected):
    assert parse_count(raw) == expected


@pytest.mark.parametrize("raw", ["0", "101", "-1", "2.5", "", "ten", "1e2"])
def test_a_bad_count_is_refused(raw):
    with pytest.raises(ValidationError, match="from 1 to 100"):
        parse_count(raw)


def test_peek_lists_the_next_messages_oldest_first_without_consuming_them(app, path, actor, broker):
    first = send(app, path, "one", query="?colour=blue")
    second = send(app, path, json.dumps({"n": 2}), content_type="application/json")
    send(app, path, "three")

    reply = call(app, "GET", f"{path}?count=2")

    assert reply.status == 200
    assert reply.result["messages"] == 3
    pending = reply.result["pending"]
    assert [p["execution_id"] for p in pending] == [first, second]
    assert pending[0] == {
        "execution_id": first,
        "message": "one",
        "content_type": "str",
        "params": {"colour": "blue"},
        "executor": "alice",
        "message_received_time": pending[0]["message_received_time"],
        "attempts": 0,
    }
    assert pending[0]["message_received_time"].endswith("Z")
    assert pending[1]["message"] == {"n": 2} and pending[1]["content_type"] == "application/json"
    # nothing was consumed: the same answer again, and every message is still queued
    assert call(app, "GET", f"{path}?count=2").result == reply.result
    assert len(queued(broker, actor)) == 3


def test_without_count_the_answer_is_the_length_only(app, path):
    send(app, path, "one")
    assert set(call(app, "GET", path).result) == {"messages", "_links"}


def test_running_and_finished_executions_are_not_pending(app, path, actor):
    running, done, waiting = (send(app, path, text) for text in ("a", "b", "c"))
    executions.start(executions.key_for(actor.db_id, running))
    executions.end(executions.key_for(actor.db_id, done), ExecutionOutcome.NOT_STARTED, "gone")

    pending = call(app, "GET", f"{path}?count=10").result["pending"]

    assert [p["execution_id"] for p in pending] == [waiting]


def test_a_purge_empties_the_peek(app, path):
    send(app, path, "one")
    assert call(app, "DELETE", path).status == 200
    reply = call(app, "GET", f"{path}?count=5")
    assert reply.result["messages"] == 0 and reply.result["pending"] == []


@pytest.mark.parametrize("count", ["0", "101", "x"])
def test_a_bad_count_is_a_400(app, path, count):
    reply = call(app, "GET", f"{path}?count={count}")
    assert reply.status == 400 and "from 1 to 100" in reply.message


def test_peeking_needs_read(app, actor, path):
    assert call(app, "GET", f"{path}?count=1", user="bob").status == 404
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert call(app, "GET", f"{path}?count=1", user="bob").status == 200
