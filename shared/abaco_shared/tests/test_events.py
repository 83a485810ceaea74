"""Events: their shape, when they are published, and that a failed publish never raises."""

import datetime as dt

import pytest

from abaco_shared import aliases
from abaco_shared.auth import Principal
from abaco_shared.channels import EventsChannel
from abaco_shared.enums import ActorStatus, ExecutionOutcome, Role
from abaco_shared.errors import ChannelError, ChannelTimeout, ValidationError
from abaco_shared.events import EventPublisher, EventType, build_event, link_key, wants_events
from abaco_shared.messages import EventMessage
from abaco_shared.workflows.registration import register_actor

ALICE = Principal("alice", "dev", frozenset({Role.USER}))
COMMON = {
    "tenant_id",
    "event_type",
    "event_time_utc",
    "event_time_display",
    "actor_id",
    "actor_dbid",
    "_abaco_link",
    "_abaco_webhook",
}


def _actor(broker, **values):
    return register_actor(ALICE, {"image": "abaco/echo:latest", **values}, broker)


def _events(broker):
    queue = EventsChannel(broker).queue
    out = []
    while True:
        try:
            out.append(EventMessage.from_dict(broker.get(queue, 0)).event)
        except ChannelTimeout:
            return out


def test_an_event_has_the_fields_of_the_original_and_its_own(mongo, broker):
    target = _actor(broker)
    actor = _actor(broker, link=target.actor_id, webhook="https://example.org/hook")
    event = build_event(actor, EventType.EXECUTION_COMPLETE, now=1_700_000_000.25, execution_id="e1", exit_code=0)
    assert set(event) == COMMON | {"execution_id", "exit_code"}
    assert event["tenant_id"] == "dev" and event["event_type"] == "EXECUTION_COMPLETE"
    assert event["actor_id"] == actor.actor_id and event["actor_dbid"] == actor.db_id
    assert event["_abaco_link"] == target.db_id and event["_abaco_webhook"] == "https://example.org/hook"
    assert event["event_time_utc"] == "1700000000.25"
    assert event["event_time_display"] == str(dt.datetime(2023, 11, 14, 22, 13, 20, 250000))


def test_the_common_fields_win_over_type_specific_data(mongo, broker):
    actor = _actor(broker, webhook="https://example.org/hook")
    event = build_event(actor, EventType.ACTOR_READY, tenant_id="other", status_message="")
    assert event["tenant_id"] == "dev"


def test_a_link_by_alias_names_the_linked_actors_key_and_a_dangling_alias_names_none(mongo, broker):
    target = _actor(broker)
    aliases.create("dev", "target.alias", target.actor_id, "alice")
    actor = _actor(broker, link="target.alias")
    assert link_key(actor) == target.db_id
    aliases.delete(aliases.get("dev", "target.alias"))
    assert link_key(actor) == ""
    assert link_key(_actor(broker)) == ""


def test_only_actors_with_a_link_or_a_webhook_publish(mongo, broker):
    publisher = EventPublisher(broker)
    plain = _actor(broker)
    assert not wants_events(plain)
    assert publisher.actor_ready(plain) is False
    assert publisher.execution_started(plain, "e1") is False
    assert _events(broker) == []

    hooked = _actor(broker, webhook="http://127.0.0.1:9/hook")
    assert publisher.actor_ready(hooked) is True
    assert publisher.actor_error(hooked, "image gone") is True
    assert publisher.execution_started(hooked, "e1") is True
    assert publisher.execution_complete(hooked, "e1", 3, ExecutionOutcome.FAILED) is True
    ready, error, started, complete = _events(broker)
    assert (ready["event_type"], ready["status_message"]) == ("ACTOR_READY", "")
    assert (error["event_type"], error["status_message"]) == ("ACTOR_ERROR", "image gone")
    assert (started["event_type"], started["execution_id"], started["status"]) == (
        "EXECUTION_STARTED",
        "e1",
        "RUNNING",
    )
    assert {k: complete[k] for k in ("event_type", "execution_id", "status", "exit_code", "outcome")} == {
        "event_type": "EXECUTION_COMPLETE",
        "execution_id": "e1",
        "status": "COMPLETE",
        "exit_code": 3,
        "outcome": "FAILED",
    }


def test_an_actor_being_deleted_and_a_link_that_names_nothing_publish_nothing(mongo, broker):
    publisher = EventPublisher(broker)
    target = _actor(broker)
    aliases.create("dev", "gone.soon", target.actor_id, "alice")
    linked = _actor(broker, link="gone.soon")
    aliases.delete(aliases.get("dev", "gone.soon"))
    assert publisher.actor_ready(linked) is False
    departing = _actor(broker, webhook="https://example.org/hook")
    departing.status = ActorStatus.SHUTTING_DOWN.value
    assert publisher.actor_ready(departing) is False
    assert _events(broker) == []


def test_a_failed_publish_is_logged_never_raised(mongo, broker, monkeypatch, caplog):
    actor = _actor(broker, webhook="https://example.org/hook")
    publisher = EventPublisher(broker)

    def refuse(*args, **kwargs):
        raise ChannelError("broker down")

    monkeypatch.setattr(broker, "publish", refuse)
    assert publisher.execution_complete(actor, "e1", 0, ExecutionOutcome.SUCCESS) is False
    assert "event not published: broker down" in caplog.text


def test_an_event_message_is_versioned_and_validated():
    event = {k: "x" for k in COMMON}
    assert EventMessage.from_dict(EventMessage(event=event).to_dict()).event == event
    for body in ({"v": 1, "event": "nope"}, {"v": 1, "event": {**event, "actor_dbid": 3}}, {"event": event}):
        with pytest.raises(ValidationError):
            EventMessage.from_dict(body)
