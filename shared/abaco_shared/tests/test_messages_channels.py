import threading

import pytest

from abaco_shared.broker import Broker
from abaco_shared.channels import CommandChannel, MailboxChannel, WorkerChannel
from abaco_shared.errors import ValidationError
from abaco_shared.messages import MailboxMessage, SpawnCommand, WorkerCommand


def test_wire_round_trip_carries_version():
    cmd = SpawnCommand(actor_dbid="dev_X", worker_id="W", image="img", revision=2, tenant="dev")
    body = cmd.to_dict()
    assert body["v"] == 1
    assert SpawnCommand.from_dict(body) == cmd


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("not a dict", "must be a JSON object"),
        ({"v": 99, "command": "stop"}, "unsupported schema version"),
        ({"v": 1}, "missing field 'command'"),
        ({"v": 1, "command": 3}, "wrong type"),
        ({"v": 1, "command": "rm -rf"}, "unknown command"),
    ],
)
def test_bad_bodies_are_refused(body, fragment):
    with pytest.raises(ValidationError, match=fragment):
        WorkerCommand.from_dict(body)


def test_queue_names_follow_the_reference():
    broker = Broker("memory://", prefix="")
    assert CommandChannel(broker, "special").queue.name == "command_channel_special"
    assert MailboxChannel(broker, "dev_A").queue.name == "actor_msg_dev_A"
    assert WorkerChannel(broker, "W").queue.name == "worker_W"
    assert Broker("memory://", prefix="t1_").queue("clients").name == "t1_clients"


def test_publish_and_consume_json_over_memory_transport():
    broker = Broker("memory://", prefix="unit_")
    mailbox = MailboxChannel(broker, "dev_A")
    for i in range(3):
        mailbox.put(MailboxMessage(execution_id=f"e{i}", content_type="application/json", message={"i": i}))
    seen = []
    stop = threading.Event()

    def on_message(body, message):
        seen.append(MailboxMessage.from_dict(body))
        message.ack()
        if len(seen) == 3:
            stop.set()

    broker.consume([mailbox.queue], on_message, stop, poll=0.1)
    assert [m.message for m in seen] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(m.content_type == "application/json" for m in seen)
