"""A queue deleted under its consumer (RabbitMQ's basic.cancel) ends consuming; nothing redeclares it."""

import threading

import amqp.exceptions

from abaco_shared.broker import Broker


class CancellingConnection:
    """A memory:// connection whose first wait for events gets the broker's basic.cancel."""

    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def drain_events(self, timeout=None):
        raise amqp.exceptions.ConsumerCancelled("queue deleted", (60, 30))


def test_a_cancelled_consumer_stops_and_does_not_reconnect(broker: Broker, monkeypatch):
    q = broker.queue("cancelled")
    connects = []
    real_connect = broker.connect

    def connect(retries=None):
        connects.append(1)
        return CancellingConnection(real_connect())

    monkeypatch.setattr(broker, "connect", connect)
    stop = threading.Event()

    assert broker.consume([q], lambda body, delivery: None, stop, poll=0.05) is False
    assert len(connects) == 1, "a cancel is not a lost connection: no reconnect, no second declare"


def test_consume_without_declaring_a_missing_queue_returns_false(broker: Broker, monkeypatch):
    q = broker.queue("never_declared")
    real_connect = broker.connect

    class Missing(CancellingConnection):
        def drain_events(self, timeout=None):
            raise amqp.exceptions.NotFound("NOT_FOUND - no queue", (60, 20))

    monkeypatch.setattr(broker, "connect", lambda retries=None: Missing(real_connect()))

    assert broker.consume([q], lambda body, delivery: None, threading.Event(), poll=0.05, declare=False) is False


def test_a_stopped_consume_returns_true(broker: Broker):
    stop = threading.Event()
    stop.set()
    assert broker.consume([broker.queue("x")], lambda body, delivery: None, stop) is True


def test_declare_creates_the_queue(broker: Broker):
    q = broker.queue("declared")
    broker.declare(q)
    broker.publish(q, {"n": 1})
    assert broker.message_count(q) == 1
