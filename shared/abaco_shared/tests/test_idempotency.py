"""Idempotent submission (``abaco_shared.idempotency`` through ``submit_message``): a repeated POST
with the same key answers the first execution, race-free, within its window; keys are validated."""

import datetime as dt
import io
import threading

import pytest

from abaco_shared import actors, blobs, executions, idempotency
from abaco_shared.auth import Principal
from abaco_shared.channels import MailboxChannel
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, Role
from abaco_shared.errors import ChannelError, Conflict, ValidationError
from abaco_shared.idempotency import IdempotencyKey, IdempotencyRecord, parse_key
from abaco_shared.ids import new_id
from abaco_shared.models import Execution, utcnow
from abaco_shared.workflows.mailbox import IncomingMessage, submit_message

ALICE = Principal("alice", "dev", frozenset({Role.USER}))
BOB = Principal("bob", "dev", frozenset({Role.USER}))
WINDOW = 86400
KEY = IdempotencyKey("order-42:try", WINDOW)


@pytest.fixture
def actor(mongo):
    return actors.create("dev", "alice", {"image": "abaco/echo:latest"})


def incoming(message="hello", key=KEY, **params):
    return IncomingMessage(message, "str", dict(params), idempotency=key)


def send(actor, broker, message="hello", key=KEY, sender=ALICE, **params):
    return submit_message(actor, sender, incoming(message, key, **params), broker, "http://api")


def queued(broker, actor):
    return MailboxChannel(broker, actor.db_id).length()


# -- the key ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "param", "expected"),
    [
        (None, None, None),
        ("a1b2", None, "a1b2"),
        (None, "a1b2", "a1b2"),
        ("a1b2", "a1b2", "a1b2"),
        ("6f1c2d9e-0b8a-4c1e-9f3a-2b7d5e4c3a10", None, "6f1c2d9e-0b8a-4c1e-9f3a-2b7d5e4c3a10"),
        ("x" * 255, None, "x" * 255),
        ("base64+/=._:-", None, "base64+/=._:-"),
    ],
)
def test_a_key_comes_from_the_header_or_the_query_parameter(header, param, expected):
    key = parse_key(header, param, WINDOW)
    assert (key.value if key else None) == expected
    if key:
        assert key.window == WINDOW


@pytest.mark.parametrize(
    ("header", "param", "fragment"),
    [
        ("", None, "Invalid Idempotency-Key"),
        ("x" * 256, None, "1 to 255 characters"),
        ("has space", None, "Invalid Idempotency-Key"),
        ("caf\u00e9", None, "Invalid Idempotency-Key"),
        (None, "semi;colon", "Invalid Idempotency-Key"),
        ("one", "two", "differ; give one key"),
    ],
)
def test_a_bad_key_is_a_clear_400(header, param, fragment):
    with pytest.raises(ValidationError, match=fragment) as err:
        parse_key(header, param, WINDOW)
    assert err.value.http_status == 400


def test_the_fingerprint_tells_messages_apart_but_not_how_the_answer_is_awaited():
    fp = idempotency.fingerprint
    base = fp("str", "hello", {"colour": "blue"})
    assert base == fp("str", "hello", {"colour": "blue", "_abaco_synchronous": "true"})
    assert base != fp("str", "hello!", {"colour": "blue"})
    assert base != fp("application/json", "hello", {"colour": "blue"})
    assert base != fp("str", "hello", {"colour": "red"})
    assert fp("application/json", {"a": 1, "b": 2}, {}) == fp("application/json", {"b": 2, "a": 1}, {})
    assert fp("application/octet-stream", b"\x00\x01", {}) != fp("application/octet-stream", b"\x00\x02", {})


# -- submit_message with a key -------------------------------------------------------------------
def test_a_repeat_answers_the_first_execution_and_queues_nothing(actor, broker):
    first = send(actor, broker)
    again = send(actor, broker)
    assert again.execution_id == first.execution_id
    assert Execution.objects(actor_dbid=actor.db_id).count() == 1
    assert queued(broker, actor) == 1
    record = IdempotencyRecord.objects.get()
    assert (record.execution_id, record.state, record.sender, record.key) == (
        first.execution_id,
        "RECORDED",
        "alice",
        KEY.value,
    )


def test_a_repeat_may_ask_for_a_synchronous_answer(actor, broker):
    first = send(actor, broker)
    assert send(actor, broker, _abaco_synchronous="true").execution_id == first.execution_id


def test_without_a_key_every_post_is_a_new_execution(actor, broker):
    assert send(actor, broker, key=None).execution_id != send(actor, broker, key=None).execution_id
    assert IdempotencyRecord.objects.count() == 0


def test_keys_are_per_actor_and_per_sender(actor, broker):
    other = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    ids = {
        send(actor, broker).execution_id,
        send(actor, broker, sender=BOB).execution_id,
        send(other, broker).execution_id,
        send(actor, broker, key=IdempotencyKey("another", WINDOW)).execution_id,
    }
    assert len(ids) == 4


def test_the_same_key_for_another_message_is_a_409(actor, broker):
    send(actor, broker, "hello")
    with pytest.raises(Conflict, match="already used for another message") as err:
        send(actor, broker, "goodbye")
    assert err.value.http_status == 409
    assert queued(broker, actor) == 1


def binary(data: bytes, key=KEY):
    return IncomingMessage(
        {"binary_size": len(data)},
        "application/octet-stream",
        {},
        payload=blobs.Upload(io.BytesIO(data), len(data)),
        idempotency=key,
    )


def test_a_binary_repeat_must_carry_the_same_bytes_and_leaves_no_copy(actor, broker):
    first = submit_message(actor, ALICE, binary(b"\x00\x01abc"), broker, "http://api")
    again = submit_message(actor, ALICE, binary(b"\x00\x01abc"), broker, "http://api")
    assert again.execution_id == first.execution_id
    with pytest.raises(Conflict, match="another message"):
        submit_message(actor, ALICE, binary(b"\x00\x02abc"), broker, "http://api")  # same length
    assert [b.size for b in blobs.for_actor(actor.db_id)] == [5]  # the first message's payload only
    assert queued(broker, actor) == 1


def test_a_key_is_forgotten_after_its_window(actor, broker, monkeypatch):
    first = send(actor, broker, key=IdempotencyKey("k", 60))
    assert send(actor, broker, key=IdempotencyKey("k", 60)).execution_id == first.execution_id
    later = utcnow() + dt.timedelta(seconds=61)
    monkeypatch.setattr(idempotency, "utcnow", lambda: later)
    fresh = send(actor, broker, key=IdempotencyKey("k", 60))
    assert fresh.execution_id != first.execution_id and queued(broker, actor) == 2
    assert send(actor, broker, key=IdempotencyKey("k", 60)).execution_id == fresh.execution_id


def test_a_message_that_could_not_be_queued_releases_its_key(actor, broker, monkeypatch):
    def refuse(self, msg):
        raise ChannelError("cannot publish to the mailbox: [Errno 111] Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(MailboxChannel, "put", refuse)
        with pytest.raises(ChannelError):
            send(actor, broker)
    assert IdempotencyRecord.objects.count() == 0, "the client's retry must run the message"
    retried = send(actor, broker)
    assert executions.get(actor.db_id, retried.execution_id).status == ExecutionStatus.SUBMITTED
    assert queued(broker, actor) == 1


# -- races ----------------------------------------------------------------------------------------
def test_concurrent_repeats_make_exactly_one_execution(actor, broker):
    n = 12
    barrier = threading.Barrier(n)
    results, errors = [], []

    def post():
        barrier.wait()
        try:
            results.append(send(actor, broker).execution_id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == n and len(set(results)) == 1
    assert Execution.objects(actor_dbid=actor.db_id).count() == 1
    assert queued(broker, actor) == 1


def test_a_repeat_waits_for_a_first_request_between_its_two_writes(actor):
    first_id = new_id()
    digest = idempotency.fingerprint("str", "hello", {})
    first = idempotency.admit(actor, ALICE, KEY, digest, first_id)
    answers = []
    repeat = threading.Thread(target=lambda: answers.append(idempotency.admit(actor, ALICE, KEY, digest, new_id())))
    repeat.start()
    ex = executions.submit(actor, first_id, "alice", "str", "hello", {})  # the first request goes on
    assert idempotency.superseded(first, ex) is None
    repeat.join(10)
    [answer] = answers
    assert answer.replay is not None and answer.replay.execution_id == first_id


def test_a_first_request_that_stalls_is_taken_over_and_runs_nothing(actor, monkeypatch):
    monkeypatch.setattr(idempotency, "FIRST_WAIT", 0.1)
    digest = idempotency.fingerprint("str", "hello", {})
    stalled = idempotency.admit(actor, ALICE, KEY, digest, new_id())  # ...and then nothing for a while

    taker = idempotency.admit(actor, ALICE, KEY, digest, new_id())
    assert taker.replay is None and taker.execution_id != stalled.execution_id
    taker_ex = executions.submit(actor, taker.execution_id, "alice", "str", "hello", {})
    assert idempotency.superseded(taker, taker_ex) is None

    stalled_ex = executions.submit(actor, stalled.execution_id, "alice", "str", "hello", {})  # it wakes up
    answered = idempotency.superseded(stalled, stalled_ex)
    assert answered is not None and answered.execution_id == taker.execution_id
    ended = executions.get(actor.db_id, stalled.execution_id)
    assert (ended.status, ended.outcome) == (ExecutionStatus.ERROR, ExecutionOutcome.NOT_STARTED)
    assert "Idempotency-Key" in ended.status_message


def test_a_first_request_that_died_before_recording_is_taken_over(actor, broker, monkeypatch):
    monkeypatch.setattr(idempotency, "FIRST_WAIT", 0.1)
    digest = idempotency.fingerprint("str", "hello", {})
    idempotency.admit(actor, ALICE, KEY, digest, new_id())  # the API died right after this
    retried = send(actor, broker).load()
    assert retried.status == ExecutionStatus.SUBMITTED and queued(broker, actor) == 1
    assert send(actor, broker).execution_id == retried.execution_id
