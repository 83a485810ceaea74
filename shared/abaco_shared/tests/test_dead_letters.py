"""Dead letters: held by a worker's give-up, listed, re-sent once as a new execution, or discarded."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from abaco_shared import blobs, dead_letters, executions
from abaco_shared.auth import Principal
from abaco_shared.channels import MailboxChannel
from abaco_shared.enums import ActorStatus, DeadLetter, ExecutionOutcome, ExecutionStatus, Role
from abaco_shared.errors import ChannelError, Conflict, NotFound
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Actor, Execution
from abaco_shared.workflows import dead_letters as workflow
from abaco_shared.workflows.registration import register_actor

API = "https://api.test"
ALICE = Principal("alice", "dev", frozenset({Role.USER}))
BOB = Principal("bob", "dev", frozenset({Role.USER}))
T0 = dt.datetime(2024, 5, 1, 12, 0, 0)
BINARY = "application/octet-stream"


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": "abaco/echo:latest"}, broker)


def given_up(
    actor: Actor, execution_id: str, *, message="hi", content_type="str", params=None, at=0, binary_ref=None
) -> Execution:
    """A message a worker gave up on: its execution ended NOT_STARTED and held as a dead letter."""
    ex = executions.submit(
        actor, execution_id, "alice", content_type, message, params or {"colour": "blue"}, binary_ref=binary_ref
    )
    Execution.objects(db_id=ex.db_id).update_one(set__message_received_time=T0 + dt.timedelta(seconds=at))
    assert executions.end(ex.db_id, ExecutionOutcome.NOT_STARTED, "image gone", dead_letter=True)
    return Execution.objects.get(db_id=ex.db_id)


def test_a_give_up_ends_the_execution_and_holds_it_in_one_update(actor):
    ex = given_up(actor, "E1")
    assert (ex.status, ex.outcome, ex.status_message) == ("ERROR", "NOT_STARTED", "image gone")
    assert ex.dead_letter == DeadLetter.HELD and ex.resent_as is None


def test_other_ends_are_not_dead_letters(actor):
    ex = executions.submit(actor, "E1", "alice", "str", "hi", {})
    executions.end(ex.db_id, ExecutionOutcome.NOT_STARTED, "purged")
    assert Execution.objects.get(db_id=ex.db_id).dead_letter is None
    assert "dead_letter" not in Execution.objects.get(db_id=ex.db_id).to_mongo()  # unset, not null
    assert dead_letters.page(actor.db_id, 10, 0) == (0, [])


def test_a_finished_execution_is_never_made_a_dead_letter(actor):
    ex = executions.submit(actor, "E1", "alice", "str", "hi", {})
    executions.start(ex.db_id)
    Execution.objects(db_id=ex.db_id).update_one(set__status=ExecutionStatus.COMPLETE.value)
    assert not executions.end(ex.db_id, ExecutionOutcome.NOT_STARTED, "late", dead_letter=True)
    assert Execution.objects.get(db_id=ex.db_id).dead_letter is None


def test_the_list_pages_newest_first_with_the_total(actor):
    for i in range(5):
        given_up(actor, f"E{i}", at=i)
    total, page = dead_letters.page(actor.db_id, 2, 1)
    assert total == 5 and [e.execution_id for e in page] == ["E3", "E2"]
    assert dead_letters.page(actor.db_id, 0, 0) == (5, [])
    assert dead_letters.page(actor.db_id, 10, 5) == (5, [])


def test_a_letter_is_taken_once(actor):
    ex = given_up(actor, "E1")
    assert dead_letters.take(ex.db_id).dead_letter == DeadLetter.RESENT
    assert dead_letters.take(ex.db_id) is None
    assert dead_letters.get_held(actor.db_id, "E1") is None


def test_a_released_letter_is_held_again_unless_it_was_resent(actor):
    ex = given_up(actor, "E1")
    dead_letters.take(ex.db_id)
    dead_letters.release(ex.db_id)
    assert dead_letters.get_held(actor.db_id, "E1") is not None
    dead_letters.take(ex.db_id)
    assert dead_letters.mark_resent(ex.db_id, "E9").resent_as == "E9"
    dead_letters.release(ex.db_id)
    assert Execution.objects.get(db_id=ex.db_id).dead_letter == DeadLetter.RESENT


def test_resend_queues_a_new_execution_with_the_same_message(actor, broker):
    given_up(actor, "E1", message={"k": "v"}, content_type="application/json", params={"colour": "blue"})

    letter = workflow.resend(actor, BOB, "E1", broker, API)

    assert letter.dead_letter == DeadLetter.RESENT and letter.resent_as
    new = executions.get(actor.db_id, letter.resent_as)
    assert new.status == ExecutionStatus.SUBMITTED.value and new.executor == "bob"
    assert (new.message, new.content_type, new.params) == ({"k": "v"}, "application/json", {"colour": "blue"})
    mail = MailboxMessage.from_dict(broker.get(MailboxChannel(broker, actor.db_id).queue, 1))
    assert mail.execution_id == letter.resent_as and mail.message == {"k": "v"}
    assert mail.env["colour"] == "blue" and mail.env["_abaco_username"] == "bob"
    assert dead_letters.page(actor.db_id, 10, 0) == (0, [])  # it left the list
    with pytest.raises(NotFound, match="No dead letter found with identifier: E1"):
        workflow.resend(actor, BOB, "E1", broker, API)


def test_a_refused_resend_leaves_the_letter_held(actor, broker, monkeypatch):
    given_up(actor, "E1")
    Actor.objects(db_id=actor.db_id).update_one(set__status=ActorStatus.ERROR.value)
    actor.reload()
    with pytest.raises(Conflict):
        workflow.resend(actor, ALICE, "E1", broker, API)
    assert dead_letters.get_held(actor.db_id, "E1") is not None

    actor.status = ActorStatus.READY.value

    monkeypatch.setattr(broker, "publish_batch", lambda items: [ChannelError("the broker is down")] * len(items))
    with pytest.raises(ChannelError):
        workflow.resend(actor, ALICE, "E1", broker, API)
    assert dead_letters.get_held(actor.db_id, "E1") is not None


def binary_letter(actor: Actor, execution_id: str = "E1") -> blobs.Blob:
    blob = blobs.store(io.BytesIO(b"\x00\x01\x02"), 3, actor.db_id, execution_id)
    given_up(actor, execution_id, message={"binary_size": 3}, content_type=BINARY, binary_ref=blob.blob_id)
    return blob


def test_a_binary_letter_is_resent_with_its_stored_payload(actor, broker):
    blob = binary_letter(actor)

    letter = workflow.resend(actor, ALICE, "E1", broker, API)

    new = executions.get(actor.db_id, letter.resent_as)
    assert (new.content_type, new.message, new.binary_ref) == (BINARY, {"binary_size": 3}, blob.blob_id)
    mail = MailboxMessage.from_dict(broker.get(MailboxChannel(broker, actor.db_id).queue, 1))
    assert (mail.binary_ref, mail.binary_size) == (blob.blob_id, 3)
    assert blobs.for_actor(actor.db_id) == [blob]  # the same payload, not a copy


def test_a_binary_letter_without_its_payload_cannot_be_resent(actor, broker):
    given_up(actor, "E1", message={"binary_size": 3}, content_type=BINARY)
    with pytest.raises(Conflict, match="payload was not kept"):
        workflow.resend(actor, ALICE, "E1", broker, API)
    assert dead_letters.get_held(actor.db_id, "E1") is not None


def test_discarding_a_binary_letter_deletes_its_payload(actor):
    binary_letter(actor)
    workflow.discard(actor, "E1")
    assert blobs.for_actor(actor.db_id) == []


def test_discard_takes_it_off_the_list_and_keeps_the_record(actor):
    given_up(actor, "E1")
    workflow.discard(actor, "E1")
    assert dead_letters.page(actor.db_id, 10, 0) == (0, [])
    assert executions.get(actor.db_id, "E1").dead_letter == DeadLetter.DISCARDED
    with pytest.raises(NotFound):
        workflow.discard(actor, "E1")


def test_unknown_and_ordinary_executions_are_not_dead_letters(actor, broker):
    executions.submit(actor, "E2", "alice", "str", "hi", {})
    for execution_id in ("nope", "E2"):
        with pytest.raises(NotFound):
            workflow.held_letter(actor, execution_id)
