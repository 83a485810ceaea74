"""Synchronous calls answer with the first result datagram (raw, consumed) or else the logs, and
``_abaco_sync_timeout`` lowers the server's timeout for one call (never given to the container)."""

import time

import pytest

from abaco_messages.app import make_app
from abaco_shared import executions, results
from abaco_shared.config import load_config
from abaco_shared.models import Execution, Log
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows import mailbox as mailbox_workflow

from .test_app import AUTH, CFG, call, queued
from .test_app import actor as actor  # noqa: F401  (the fixture)
from .test_app import path as path  # noqa: F401  (the fixture)


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


@pytest.fixture
def app(mongo, broker, signals):
    return make_app(CFG, AUTH, broker, signals)


@pytest.fixture
def ex_dbid(actor, monkeypatch):
    monkeypatch.setattr(mailbox_workflow, "new_id", lambda: "EXSYNC")
    return executions.key_for(actor.db_id, "EXSYNC")


def test_a_synchronous_call_answers_with_the_first_result_raw(app, actor, path, signals, ex_dbid):
    results.store(ex_dbid, actor.db_id, 0, b"\x00first")
    results.store(ex_dbid, actor.db_id, 1, b"second")
    signals.notify_result(ex_dbid)  # the worker stored its first result; the execution still runs

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "compute")

    assert reply.status == 200 and reply.body == b"\x00first"
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert (reply.headers["X-Abaco-Execution-Id"], reply.headers["X-Abaco-Answer"]) == ("EXSYNC", "result")
    assert results.pop_next(ex_dbid) == b"second"  # the first one was consumed


def test_a_synchronous_call_without_a_result_answers_with_the_logs(app, actor, path, signals, ex_dbid):
    Log(db_id=ex_dbid, actor_dbid=actor.db_id, tenant="dev", execution_id="EXSYNC", logs="out\n").save()
    signals.notify(ex_dbid)

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "compute")

    assert reply.status == 200 and reply.body == b"out\n" and reply.headers["X-Abaco-Answer"] == "logs"


def test_the_per_call_timeout_lowers_the_servers_and_is_not_in_the_environment(app, broker, actor, path):
    started = time.monotonic()

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true&_abaco_sync_timeout=0.3&colour=blue", "slow")

    assert reply.status == 504 and time.monotonic() - started < CFG.http.sync_timeout
    [ex] = Execution.objects(actor_dbid=actor.db_id)
    assert ex.execution_id in reply.message and ex.params == {"_abaco_synchronous": "true", "colour": "blue"}
    [msg] = queued(broker, actor)
    assert "_abaco_sync_timeout" not in msg.env and msg.env["colour"] == "blue"


@pytest.mark.parametrize("value", ["0", "-2", "abc", "121", "nan"])
def test_a_bad_per_call_timeout_is_a_400_and_queues_nothing(app, broker, actor, path, value):
    reply = call(app, "POST", f"{path}?_abaco_synchronous=true&_abaco_sync_timeout={value}", "x")

    assert reply.status == 400 and "_abaco_sync_timeout" in reply.message
    assert queued(broker, actor) == [] and Execution.objects.count() == 0


def test_a_per_call_timeout_above_a_lowered_server_timeout_is_refused(mongo, broker, signals, actor, path):
    app = make_app(load_config(env={"ABACO__HTTP__SYNC_TIMEOUT": "5"}), AUTH, broker, signals)

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true&_abaco_sync_timeout=6", "x")

    assert reply.status == 400 and "at most 5" in reply.message
