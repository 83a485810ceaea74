"""The messages route and its SyncGate: a synchronous call over a limit is a 429, before anything
is queued; asynchronous messages never need a slot; a finished or timed-out wait gives its slot back."""

import threading
import time

import pytest

from abaco_messages.app import make_app
from abaco_shared import executions
from abaco_shared.config import load_config
from abaco_shared.limits import SyncGate
from abaco_shared.models import Execution, Log
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows import mailbox as mailbox_workflow
from abaco_shared.workflows.registration import register_actor

from .test_app import ALICE, AUTH, CFG, IMAGE, call, queued


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": IMAGE}, broker)


@pytest.fixture
def path(actor):
    return f"/actors/{actor.actor_id}/messages"


@pytest.fixture
def gate():
    return SyncGate(max_total=4, max_per_user=2)


@pytest.fixture
def app(mongo, broker, signals, gate):
    return make_app(CFG, AUTH, broker, signals, gate)


def test_a_synchronous_call_over_the_per_user_limit_is_a_429_and_queues_nothing(app, gate, broker, actor, path):
    gate.acquire("dev", "alice")
    gate.acquire("dev", "alice")

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "third")

    assert reply.status == 429 and reply.headers["Content-Type"].startswith("application/json")
    assert reply.json["status"] == "error"
    assert reply.message.startswith("Too many synchronous calls in flight")
    assert queued(broker, actor) == [] and Execution.objects(actor_dbid=actor.db_id).count() == 0
    assert gate.held_by("dev", "alice") == 2  # the refusal took nothing and gave nothing back


def test_another_user_still_gets_a_slot_and_asynchronous_messages_need_none(app, gate, broker, actor, path):
    gate.acquire("dev", "alice")
    gate.acquire("dev", "alice")

    assert call(app, "POST", path, "async").status == 200
    assert len(queued(broker, actor)) == 1
    # bob has no permission on alice's actor: he is refused for that (404, he cannot see it), never for the gate
    assert call(app, "POST", f"{path}?_abaco_synchronous=true", "x", user="bob").status == 404


def test_the_process_limit_is_a_429_for_everyone(mongo, broker, signals, actor, path):
    gate = SyncGate(max_total=1, max_per_user=1)
    app = make_app(CFG, AUTH, broker, signals, gate)
    gate.acquire("other", "carol")

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "x")

    assert reply.status == 429 and "on this server" in reply.message


def test_a_finished_wait_gives_its_slot_back(app, gate, actor, path, signals, monkeypatch):
    monkeypatch.setattr(mailbox_workflow, "new_id", lambda: "EXGATE")
    ex_dbid = executions.key_for(actor.db_id, "EXGATE")
    Log(db_id=ex_dbid, actor_dbid=actor.db_id, tenant="dev", execution_id="EXGATE", logs="done\n").save()
    signals.notify(ex_dbid)

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "x")

    assert reply.status == 200 and reply.body == b"done\n"
    assert gate.in_flight == 0


def test_a_timed_out_wait_gives_its_slot_back(mongo, broker, signals, gate, actor, path):
    app = make_app(load_config(env={"ABACO__HTTP__SYNC_TIMEOUT": "1"}), AUTH, broker, signals, gate)

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "slow")

    assert reply.status == 504
    assert gate.in_flight == 0


def test_the_default_gate_comes_from_the_config(mongo, broker, signals, actor, path):
    cfg = load_config(env={"ABACO__HTTP__MAX_SYNC_WAITS_PER_USER": "1", "ABACO__HTTP__SYNC_TIMEOUT": "2"})
    app = make_app(cfg, AUTH, broker, signals)
    first: list[int] = []
    waiting = threading.Thread(
        target=lambda: first.append(call(app, "POST", f"{path}?_abaco_synchronous=true", "slow").status)
    )
    waiting.start()
    deadline = time.monotonic() + 5
    while Execution.objects(actor_dbid=actor.db_id).count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the first call is queued and now waits in its slot

    second = call(app, "POST", f"{path}?_abaco_synchronous=true", "x")
    waiting.join(10)

    assert second.status == 429 and "at most 1 per user" in second.message
    assert first == [504]
    assert call(app, "POST", f"{path}?_abaco_synchronous=true", "later").status == 504  # the slot came back
