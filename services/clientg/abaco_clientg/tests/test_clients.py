"""Unit tests of clientg's request/reply handling and of the credential records it keeps."""

from __future__ import annotations

import pytest

from abaco_clientg.clients import ClientGenerator
from abaco_shared import credentials
from abaco_shared.channels import ClientsChannel
from abaco_shared.messages import ClientReply, ClientRequest
from abaco_shared.testing import FakeDelivery

PREFIX = "abaco:"


@pytest.fixture
def clientg(broker, redis_client):
    return ClientGenerator(broker, redis_client, PREFIX)


def new_request(command="new", **kw):
    return ClientRequest(command=command, tenant="dev", actor_dbid="dev_A1", worker_id="W1", **kw)


@pytest.fixture
def reply_queue(broker):
    """A private reply queue, declared before the request as Broker.request does."""
    queue = broker.queue("reply_test", durable=False)
    with broker.connect() as conn:
        queue.bind(conn.default_channel).declare()
    return queue


def take(broker, queue):
    """The next raw message on ``queue`` (with its properties), or None."""
    with broker.connect() as conn:
        return queue.bind(conn.default_channel).get(no_ack=True)


def ask(clientg, reply_queue, body, correlation_id="corr-1"):
    """Deliver ``body`` to clientg as if from the clients queue; return (delivery, reply message)."""
    delivery = FakeDelivery(body=body, properties={"reply_to": reply_queue.name, "correlation_id": correlation_id})
    clientg.on_request(body, delivery)
    return delivery, take(clientg.broker, reply_queue)


# -- handle ----------------------------------------------------------------------------------


def test_new_records_a_credential_for_the_worker(clientg, redis_client):
    reply = clientg.handle(new_request())

    assert reply == ClientReply(status="ok", client_id="dev_W1")
    assert credentials.lookup(redis_client, PREFIX, "dev", "W1") == {"client_id": "dev_W1", "actor_dbid": "dev_A1"}
    assert redis_client.keys("*") == ["abaco:client:dev:W1"]


def test_delete_forgets_the_credential(clientg, redis_client):
    clientg.handle(new_request())

    reply = clientg.handle(new_request("delete", client_id="dev_W1"))

    assert reply == ClientReply(status="ok", client_id="dev_W1")
    assert credentials.lookup(redis_client, PREFIX, "dev", "W1") == {}


def test_an_unknown_command_is_an_error_and_stores_nothing(clientg, redis_client):
    reply = clientg.handle(new_request("mint"))

    assert reply.status == "error"
    assert "'mint'" in reply.message
    assert reply.client_id == ""
    assert redis_client.keys("*") == []


# -- on_request: the consumer callback ---------------------------------------------------------


def test_on_request_replies_on_the_reply_queue_with_the_correlation_id(clientg, reply_queue, redis_client):
    delivery, msg = ask(clientg, reply_queue, new_request().to_dict(), correlation_id="corr-42")

    assert delivery.settled == "ack"
    assert msg is not None
    assert msg.properties["correlation_id"] == "corr-42"
    assert ClientReply.from_dict(msg.decode()) == ClientReply(status="ok", client_id="dev_W1")
    assert credentials.lookup(redis_client, PREFIX, "dev", "W1")["client_id"] == "dev_W1"
    assert take(clientg.broker, reply_queue) is None  # exactly one reply


def test_a_request_sent_on_the_clients_channel_is_answered(clientg, broker, reply_queue):
    """The properties clientg reads are the ones kombu delivers for a request."""
    channel = ClientsChannel(broker)
    broker.publish(channel.queue, new_request().to_dict(), reply_to=reply_queue.name, correlation_id="c-7")
    raw = take(broker, channel.queue)

    clientg.on_request(raw.decode(), FakeDelivery(body=raw.decode(), properties=raw.properties))

    msg = take(broker, reply_queue)
    assert msg.properties["correlation_id"] == "c-7"
    assert msg.decode()["client_id"] == "dev_W1"


@pytest.mark.parametrize(
    "body, says",
    [
        ({"v": 1, "command": "new", "tenant": "dev"}, "missing field"),
        ({"v": 9, "command": "new", "tenant": "dev", "actor_id": "a", "worker_id": "w"}, "schema version"),
        ({"v": 1, "command": "new", "tenant": "dev", "actor_id": "a", "worker_id": 7}, "wrong type"),
        (["not", "an", "object"], "JSON object"),
    ],
    ids=["missing-field", "wrong-version", "wrong-type", "not-an-object"],
)
def test_a_bad_body_gets_an_error_reply(clientg, reply_queue, redis_client, body, says):
    delivery, msg = ask(clientg, reply_queue, body)

    assert delivery.settled == "ack"
    assert msg.properties["correlation_id"] == "corr-1"
    reply = ClientReply.from_dict(msg.decode())
    assert reply.status == "error"
    assert says in reply.message
    assert redis_client.keys("*") == []


def test_a_request_without_a_reply_queue_is_acked_and_dropped(clientg, reply_queue):
    delivery = FakeDelivery(body=new_request().to_dict())

    clientg.on_request(new_request().to_dict(), delivery)

    assert delivery.settled == "ack"
    assert take(clientg.broker, reply_queue) is None


# -- credentials -----------------------------------------------------------------------------


def test_credential_keys_and_client_ids():
    assert credentials.key_for("abaco:", "dev", "W1") == "abaco:client:dev:W1"
    assert credentials.key_for("", "t2", "W9") == "client:t2:W9"
    assert credentials.client_id_for("dev", "W1") == "dev_W1"


def test_record_lookup_forget(redis_client):
    client_id = credentials.record(redis_client, PREFIX, "dev", "W1", "dev_A1")

    assert client_id == "dev_W1"
    assert credentials.lookup(redis_client, PREFIX, "dev", "W1") == {"client_id": "dev_W1", "actor_dbid": "dev_A1"}
    credentials.forget(redis_client, PREFIX, "dev", "W1")
    assert credentials.lookup(redis_client, PREFIX, "dev", "W1") == {}


def test_credentials_are_separate_per_tenant_worker_and_prefix(redis_client):
    credentials.record(redis_client, PREFIX, "dev", "W1", "dev_A1")
    credentials.record(redis_client, PREFIX, "t2", "W1", "t2_A1")
    credentials.record(redis_client, "other:", "dev", "W1", "dev_B")

    credentials.forget(redis_client, PREFIX, "dev", "W1")

    assert credentials.lookup(redis_client, PREFIX, "dev", "W1") == {}
    assert credentials.lookup(redis_client, PREFIX, "dev", "W2") == {}
    assert credentials.lookup(redis_client, PREFIX, "t2", "W1") == {"client_id": "t2_W1", "actor_dbid": "t2_A1"}
    assert credentials.lookup(redis_client, "other:", "dev", "W1")["actor_dbid"] == "dev_B"
