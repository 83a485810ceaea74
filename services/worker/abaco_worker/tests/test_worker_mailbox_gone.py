"""A worker never brings back the mailbox of an actor being deleted (issue 7, item 14)."""

import threading

import pytest

from abaco_shared import actors
from abaco_shared.channels import MailboxChannel, SpawnerWorkerChannel
from abaco_shared.enums import ActorStatus

from .test_worker import WID, actor, aw, cgroup_dirs, record  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("mongo")


@pytest.mark.parametrize("departure", ["shutting_down", "deleted"])
def test_a_worker_starting_while_its_actor_is_deleted_removes_the_mailbox_and_exits(aw, actor, departure, monkeypatch):  # noqa: F811
    calls = []
    monkeypatch.setattr(aw.broker, "declare", lambda q: calls.append(("declare", q.name)))
    monkeypatch.setattr(aw.broker, "delete", lambda q: calls.append(("delete", q.name)))
    SpawnerWorkerChannel(aw.broker, WID).send_ready()
    assert aw.start()
    if departure == "deleted":
        actors.delete(actor.db_id)
    else:
        actors.set_status(actor.db_id, ActorStatus.SHUTTING_DOWN)
    mailbox = MailboxChannel(aw.broker, actor.db_id)

    assert aw._open_mailbox(mailbox) is False
    # declared, then found departing: the DELETE may already have removed it, so it goes again
    assert [verb for verb, name in calls if name == mailbox.queue.name] == ["declare", "delete"]


def test_a_worker_whose_mailbox_is_deleted_exits_without_redeclaring_it(aw, actor, monkeypatch):  # noqa: F811
    seen = {}

    def consume(queues, on_message, stop, **kwargs):
        seen.update(kwargs)
        return False  # what Broker.consume answers when RabbitMQ cancels the consumer

    monkeypatch.setattr(aw.broker, "consume", consume)
    SpawnerWorkerChannel(aw.broker, WID).send_ready()

    assert aw.run(threading.Event()) == 0
    assert seen["declare"] is False
    assert record(aw) is None
