"""Messages sent with ``?x-nonce`` only: run as the nonce's owner; the nonce never reaches the container."""

from __future__ import annotations

import pytest

from abaco_messages.app import make_app
from abaco_shared import executions, nonces
from abaco_shared.enums import Permission
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows.registration import register_actor

from .test_app import ALICE, AUTH, CFG, IMAGE, call, queued


@pytest.fixture
def app(mongo, broker, signals):
    return make_app(CFG, AUTH, broker, signals)


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": IMAGE}, broker)


def make_nonce(actor, level=Permission.EXECUTE, max_uses=-1):
    return nonces.create(ALICE, nonces.ACTOR, actor.actor_id, actor.db_id, nonces.NonceRequest(level, max_uses))


def test_a_message_sent_with_only_a_nonce_runs_as_its_owner_without_the_nonce(app, actor, broker):
    nonce = make_nonce(actor, max_uses=1)
    reply = call(app, "POST", f"/actors/{actor.actor_id}/messages?x-nonce={nonce.db_id}&colour=blue", "hi", user=None)

    assert reply.status == 200, reply.json
    ex = executions.get(actor.db_id, reply.result["execution_id"])
    assert ex is not None and ex.executor == "alice"
    assert ex.params == {"colour": "blue"}
    [mail] = queued(broker, actor)
    assert "x-nonce" not in mail.env and nonce.db_id not in repr(mail.env)
    assert mail.env["_abaco_username"] == "alice"
    again = call(app, "POST", f"/actors/{actor.actor_id}/messages?x-nonce={nonce.db_id}", "hi", user=None)
    assert again.status == 401 and "no remaining uses" in again.message


def test_a_read_nonce_reads_the_mailbox_but_cannot_send(app, actor):
    nonce = make_nonce(actor, level=Permission.READ)
    path = f"/actors/{actor.actor_id}/messages?x-nonce={nonce.db_id}"
    assert call(app, "GET", path, user=None).status == 200
    assert call(app, "POST", path, "hi", user=None).status == 403
    assert call(app, "DELETE", path, user=None).status == 403
