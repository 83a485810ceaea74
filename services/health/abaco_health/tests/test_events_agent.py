"""The events agent with fakes: tasks per event, retries on a schedule, acks once all are settled;
and link delivery over mongomock records and a memory:// broker."""

import pytest

from abaco_health.agent import EventsAgent
from abaco_health.delivery import Attempt, RetryPolicy, Verdict
from abaco_health.links import LinkSender, link_target_id
from abaco_health.webhooks import WebhookRequest
from abaco_shared import actors, executions, permissions
from abaco_shared.auth import Principal
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import EventsConfig
from abaco_shared.enums import ActorStatus, Permission, Role
from abaco_shared.errors import ChannelError
from abaco_shared.events import EventType, build_event
from abaco_shared.messages import EventMessage, MailboxMessage
from abaco_shared.models import Actor
from abaco_shared.testing import FakeDelivery
from abaco_shared.webhooks import WebhookKey, secret_for, verify
from abaco_shared.workflows.registration import register_actor

ALICE = Principal("alice", "dev", frozenset({Role.USER}))
BOB = Principal("bob", "dev", frozenset({Role.USER}))
KEY = "k" * 32


class FakeSchedule:
    """Records (delay, fn) and runs what is due when told to (no threads, no clock)."""

    def __init__(self):
        self.waiting: list = []
        self.delays: list[float] = []

    def __call__(self, fn, delay):
        self.delays.append(delay)
        self.waiting.append(fn)

    def run_all(self):
        while self.waiting:
            self.waiting.pop(0)()


class FakePoster:
    def __init__(self, *verdicts):
        self.verdicts = list(verdicts)
        self.requests: list[WebhookRequest] = []

    def post(self, req):
        self.requests.append(req)
        return self.verdicts.pop(0) if self.verdicts else Attempt(Verdict.DELIVERED, "HTTP 200")


class FakeLinks:
    def __init__(self, *verdicts):
        self.verdicts = list(verdicts)
        self.sent: list[dict] = []

    def send(self, event):
        self.sent.append(event)
        result = self.verdicts.pop(0) if self.verdicts else Attempt(Verdict.DELIVERED, "queued")
        if isinstance(result, Exception):
            raise result
        return result


def _event(link="", webhook="", **extra):
    return {
        "tenant_id": "dev",
        "event_type": "EXECUTION_COMPLETE",
        "event_time_utc": "1.0",
        "event_time_display": "1970-01-01 00:00:01",
        "actor_id": "A",
        "actor_dbid": "dev_A",
        "_abaco_link": link,
        "_abaco_webhook": webhook,
        **extra,
    }


def _agent(links=None, poster=None, attempts=5):
    schedule = FakeSchedule()
    agent = EventsAgent(
        broker=None,
        links=links or FakeLinks(),
        poster=poster or FakePoster(),
        key=WebhookKey(EventsConfig(webhook_key=KEY)),
        policy=RetryPolicy(attempts=attempts, backoff=1.0, backoff_max=60.0),
        schedule=schedule,
    )
    return agent, schedule


def _deliver(agent, event):
    delivery = FakeDelivery(body=EventMessage(event=event).to_dict())
    agent.on_event(delivery.body, delivery)
    return delivery


def test_a_webhook_is_retried_with_back_off_and_the_event_acked_once_delivered():
    poster = FakePoster(*[Attempt(Verdict.RETRY, "HTTP 500")] * 3)
    agent, schedule = _agent(poster=poster)
    delivery = _deliver(agent, _event(webhook="http://127.0.0.1:1/h"))
    schedule.run_all()
    assert schedule.delays == [0.0, 1.0, 2.0, 4.0]
    assert len(poster.requests) == 4 and len({r.body for r in poster.requests}) == 1
    assert not delivery.acknowledged  # acks happen on the consuming thread...
    agent.flush()
    assert delivery.settled == "ack"  # ...after the last try
    req = poster.requests[0]
    assert verify(secret_for(KEY.encode(), "dev_A"), req.body, req.headers["X-Abaco-Signature"])


def test_a_webhook_is_given_up_after_the_last_try_or_at_once_on_a_4xx(caplog):
    poster = FakePoster(*[Attempt(Verdict.RETRY, "HTTP 503")] * 10)
    agent, schedule = _agent(poster=poster, attempts=3)
    first = _deliver(agent, _event(webhook="http://x/h"))
    schedule.run_all()
    assert len(poster.requests) == 3 and schedule.delays == [0.0, 1.0, 2.0]
    agent.flush()
    assert first.settled == "ack" and "webhook delivery given up: HTTP 503" in caplog.text

    agent, schedule = _agent(poster=FakePoster(Attempt(Verdict.GIVE_UP, "HTTP 404")))
    second = _deliver(agent, _event(webhook="http://x/h"))
    schedule.run_all()
    agent.flush()
    assert schedule.delays == [0.0] and second.settled == "ack"


def test_an_event_with_a_link_and_a_webhook_is_acked_when_both_are_settled():
    links = FakeLinks(Attempt(Verdict.RETRY, "broker down"))
    agent, schedule = _agent(links=links)
    delivery = _deliver(agent, _event(link="dev_B", webhook="http://x/h"))
    schedule.waiting.pop(0)()  # the link's first try fails: the webhook is not held up by it
    schedule.waiting.pop(0)()  # the webhook is delivered
    agent.flush()
    assert not delivery.acknowledged
    schedule.run_all()  # the link's second try
    agent.on_event({"v": 99}, FakeDelivery())  # the next event flushes the settled ones first
    assert delivery.settled == "ack" and len(links.sent) == 2


def test_a_crashing_try_is_retried_and_unreadable_or_aimless_events_are_acked_at_once():
    agent, schedule = _agent(links=FakeLinks(RuntimeError("boom")))
    delivery = _deliver(agent, _event(link="dev_B"))
    schedule.run_all()
    agent.flush()
    assert schedule.delays == [0.0, 1.0] and delivery.settled == "ack"
    bad = FakeDelivery(body={"v": 1, "event": {"tenant_id": "dev"}})
    agent.on_event(bad.body, bad)
    assert bad.settled == "ack"
    assert _deliver(agent, _event()).settled == "ack"
    assert schedule.waiting == []


def test_an_ack_that_fails_is_logged_and_the_rest_still_acked(caplog):
    agent, schedule = _agent()

    class Stale(FakeDelivery):
        def ack(self):
            raise OSError("channel closed")

    stale = Stale(body=EventMessage(event=_event(webhook="http://x/h")).to_dict())
    agent.on_event(stale.body, stale)
    fine = _deliver(agent, _event(webhook="http://x/h"))
    schedule.run_all()
    agent.flush()
    assert fine.settled == "ack" and "could not ack" in caplog.text


# -- link delivery over records ------------------------------------------------------------------


def _actor(broker, who=ALICE, **values) -> Actor:
    return register_actor(who, {"image": "abaco/echo:latest", **values}, broker)


def _mailbox(broker, actor):
    return MailboxMessage.from_dict(broker.get(MailboxChannel(broker, actor.db_id).queue, 0))


def test_a_link_queues_the_event_as_a_json_message_from_abaco_event(mongo, broker):
    target = _actor(broker)
    source = _actor(broker, link=target.actor_id, webhook="https://example.org/h?x-nonce=N")
    event = build_event(source, EventType.EXECUTION_COMPLETE, execution_id="E1", exit_code=0)
    attempt = LinkSender(broker, "https://api.test").send(event)
    assert attempt.verdict is Verdict.DELIVERED, attempt
    msg = _mailbox(broker, target)
    assert msg.content_type == "application/json" and msg.message == event  # same owner: all of it
    assert msg.executor == "Abaco Event" and msg.env["_abaco_username"] == "Abaco Event"
    ex = executions.get(target.db_id, msg.execution_id)
    assert ex.executor == "Abaco Event" and ex.message["event_type"] == "EXECUTION_COMPLETE"


def test_a_link_to_another_owners_actor_hides_the_sources_webhook(mongo, broker):
    target = _actor(broker, who=BOB)
    permissions.grant("dev", target.db_id, "alice", Permission.EXECUTE)
    source = _actor(broker, link=target.actor_id, webhook="https://example.org/h?x-nonce=N")
    assert LinkSender(broker, "").send(build_event(source, EventType.ACTOR_READY)).verdict is Verdict.DELIVERED
    assert _mailbox(broker, target).message["_abaco_webhook"] == ""


def test_a_link_no_longer_allowed_is_given_up(mongo, broker):
    sender = LinkSender(broker, "")
    target = _actor(broker, who=BOB)
    permissions.grant("dev", target.db_id, "alice", Permission.EXECUTE)
    source = _actor(broker, link=target.actor_id)
    event = build_event(source, EventType.ACTOR_READY)
    permissions.grant("dev", target.db_id, "alice", Permission.READ)  # EXECUTE taken back
    assert sender.send(event).verdict is Verdict.GIVE_UP
    actors.delete(target.db_id)
    assert sender.send(event).verdict is Verdict.GIVE_UP
    actors.delete(source.db_id)
    assert "gone" in sender.send(event).detail


def test_a_cycle_made_by_racing_updates_is_never_followed(mongo, broker):
    a = _actor(broker)
    b = _actor(broker, link=a.actor_id)
    Actor.objects(db_id=a.db_id).update_one(set__link=b.actor_id)  # as if two PUTs raced
    event = build_event(actors.get(a.db_id), EventType.EXECUTION_COMPLETE, execution_id="E")
    attempt = LinkSender(broker, "").send(event)
    assert attempt.verdict is Verdict.GIVE_UP and "cycle" in attempt.detail


def test_a_linked_actor_in_error_is_given_up_and_a_broker_failure_retried(mongo, broker, monkeypatch):
    target = _actor(broker)
    source = _actor(broker, link=target.actor_id)
    event = build_event(source, EventType.ACTOR_READY)
    actors.set_status(target.db_id, ActorStatus.ERROR, "image gone")
    assert LinkSender(broker, "").send(event).verdict is Verdict.GIVE_UP
    actors.set_status(target.db_id, ActorStatus.READY)

    monkeypatch.setattr(broker, "publish_batch", lambda items: [ChannelError("broker down")] * len(items))
    assert LinkSender(broker, "").send(event).verdict is Verdict.RETRY


@pytest.mark.parametrize(("link", "expected"), [("dev_ABC", "ABC"), ("some.alias", "some.alias"), ("dev", "dev")])
def test_the_link_target_is_the_key_without_its_tenant(link, expected):
    assert link_target_id({"_abaco_link": link, "tenant_id": "dev"}) == expected
