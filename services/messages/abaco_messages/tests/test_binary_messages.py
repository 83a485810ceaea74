"""Binary (application/octet-stream) messages through the messages API, in-process over WSGI."""

from __future__ import annotations

import dataclasses
import io

import pytest

from abaco_messages.app import make_app
from abaco_shared import actors, blobs, executions
from abaco_shared.enums import ActorStatus, ExecutionStatus
from abaco_shared.models import Execution
from abaco_shared.testing.wsgi import Unreadable
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows.registration import delete_actor, register_actor

from .test_app import ALICE, AUTH, CFG, IMAGE, call, queued

BINARY = "application/octet-stream"
PAYLOAD = bytes(range(256)) * 4000  # 1 MB, not UTF-8, past any environment variable


@pytest.fixture
def app(mongo, broker, redis_client):
    return make_app(CFG, AUTH, broker, CompletionSignals(redis_client, "abaco:"))


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": IMAGE}, broker)


@pytest.fixture
def path(actor):
    return f"/actors/{actor.actor_id}/messages"


def read(blob_id: str) -> bytes:
    out = io.BytesIO()
    blobs.copy_to(blob_id, out)
    return out.getvalue()


def nothing_stored(actor) -> bool:
    return Execution.objects.count() == 0 and blobs.for_actor(actor.db_id) == []


def test_a_binary_body_is_stored_and_its_message_carries_only_the_blob(app, actor, path, broker):
    reply = call(app, "POST", f"{path}?colour=blue", PAYLOAD, content_type=BINARY)

    assert reply.status == 200, reply.json
    assert reply.result["msg"] == "binary - omitted"
    ex = executions.get(actor.db_id, reply.result["execution_id"])
    assert ex.status == ExecutionStatus.SUBMITTED.value
    assert ex.content_type == BINARY
    assert ex.message == {"binary_size": len(PAYLOAD)}  # the size, never the bytes
    assert ex.params == {"colour": "blue"}
    [blob] = blobs.for_actor(actor.db_id)
    assert ex.binary_ref == blob.blob_id and blob.size == len(PAYLOAD)
    assert read(blob.blob_id) == PAYLOAD
    [mail] = queued(broker, actor)
    assert (mail.binary_ref, mail.binary_size) == (blob.blob_id, len(PAYLOAD))
    assert mail.content_type == BINARY and mail.env["_abaco_Content_Type"] == BINARY
    assert mail.env["colour"] == "blue"
    assert b"\x00\x01\x02" not in str(mail.to_dict()).encode()


def test_a_content_type_with_parameters_is_still_binary(app, actor, path):
    reply = call(app, "POST", path, b"\xff\x00", content_type="Application/Octet-Stream; foo=bar")

    assert reply.status == 200 and reply.result["msg"] == "binary - omitted"


def test_the_string_limit_does_not_apply_to_binary_messages(app, actor, path):
    big = b"\x00" * (CFG.http.max_message_length * 3)

    reply = call(app, "POST", path, big, content_type=BINARY)

    assert reply.status == 200
    assert blobs.for_actor(actor.db_id)[0].size == len(big)


def test_without_a_content_length_it_is_411(app, actor, path):
    reply = call(app, "POST", path, content_type=BINARY, content_length="", stream=Unreadable())

    assert reply.status == 411 and "Content-Length" in reply.message
    assert reply.json["status"] == "error"
    assert nothing_stored(actor)


def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read(mongo, broker, redis_client, actor, path):
    cfg = dataclasses.replace(CFG, http=dataclasses.replace(CFG.http, max_binary_length=1000))
    app = make_app(cfg, AUTH, broker, CompletionSignals(redis_client, "abaco:"))

    reply = call(app, "POST", path, content_type=BINARY, content_length=1001, stream=Unreadable())

    assert reply.status == 413 and "at most 1000 bytes" in reply.message
    assert nothing_stored(actor)
    assert call(app, "POST", path, b"x" * 1000, content_type=BINARY).status == 200  # the limit itself is fine


def test_the_default_limit_is_the_configured_one(app, actor, path):
    limit = CFG.http.max_binary_length
    assert limit == 500_000_000

    reply = call(app, "POST", path, content_type=BINARY, content_length=limit + 1, stream=Unreadable())

    assert reply.status == 413 and str(limit) in reply.message


@pytest.mark.parametrize("declared", ["0", "-5"])
def test_an_empty_or_invalid_length_is_400(app, actor, path, declared):
    reply = call(app, "POST", path, content_type=BINARY, content_length=declared, stream=Unreadable())

    assert reply.status == 400
    assert nothing_stored(actor)


def test_a_body_cut_short_leaves_no_blob_and_no_execution(app, actor, path, broker):
    reply = call(app, "POST", path, PAYLOAD[:300_000], content_type=BINARY, content_length=len(PAYLOAD))

    assert reply.status == 400 and "ended after 300000" in reply.message
    assert nothing_stored(actor)
    assert queued(broker, actor) == []


def test_an_actor_that_takes_no_messages_is_409_before_the_body_is_read(app, actor, path):
    actors.set_status(actor.db_id, ActorStatus.ERROR, "broken")

    reply = call(app, "POST", path, content_type=BINARY, content_length=10, stream=Unreadable())

    assert reply.status == 409
    assert nothing_stored(actor)


def test_deleting_the_actor_deletes_its_payloads(app, actor, path, broker):
    for _ in range(2):
        assert call(app, "POST", path, b"abc", content_type=BINARY).status == 200
    other = register_actor(ALICE, {"image": IMAGE}, broker)
    assert call(app, "POST", f"/actors/{other.actor_id}/messages", b"x", content_type=BINARY).status == 200

    delete_actor(actor, broker)

    assert blobs.for_actor(actor.db_id) == []
    assert len(blobs.for_actor(other.db_id)) == 1
    ended = Execution.objects(actor_dbid=actor.db_id)
    assert {e.binary_ref is not None for e in ended} == {True}  # records are kept, as ever
