"""Broker.consume waits out outages: of the broker (reconnect with back-off, for as long as it
takes) and of the stores its callbacks use (the delivery goes back to the queue and comes again),
saying so once per outage."""

import logging
import threading
import time

import amqp.exceptions
import pymongo.errors
import pytest

from abaco_shared import outages
from abaco_shared.broker import Broker

UNREACHABLE = "amqp://127.0.0.1:1//"  # nothing listens on port 1: refused at once


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(outages.Backoff, "next", lambda self: 0.01)


def run_in_thread(fn, *args, **kwargs):
    result = {}

    def target():
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: B036 - reported to the test
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def outage_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "abaco_shared.broker"]


def test_an_unreachable_broker_is_retried_until_stopped_and_logged_once(monkeypatch, caplog):
    broker = Broker(UNREACHABLE, retries=5)
    tries = []
    real_connect = broker.connect

    def connect(retries=None):
        tries.append(retries)
        return real_connect(retries=retries)

    monkeypatch.setattr(broker, "connect", connect)
    stop = threading.Event()
    thread, result = run_in_thread(broker.consume, [broker.queue("q")], lambda body, delivery: None, stop, poll=0.05)
    deadline = time.monotonic() + 5
    while len(tries) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)

    assert result == {"value": True}, "a consumer never gives up on its broker; it returns when stopped"
    assert len(tries) >= 4 and set(tries) == {0}, "one quiet try each time: the back-off is the consumer's"
    lines = outage_lines(caplog)
    assert len(lines) == 1 and "cannot reach RabbitMQ" in lines[0], lines


class DroppingConnection:
    """A memory:// connection that is lost the first time the consumer waits for events (what
    RabbitMQ says to its clients when it is stopped)."""

    def __init__(self, conn):
        self._conn = conn

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def drain_events(self, timeout=None):
        raise amqp.exceptions.ConnectionForced("CONNECTION_FORCED - broker forced connection closure", (0, 0))


def test_a_lost_connection_is_reestablished_and_consuming_goes_on(broker, monkeypatch, caplog):
    q = broker.queue("lost")
    broker.publish(q, {"n": 1})
    real_connect = broker.connect
    connects = []

    def connect(retries=None):
        connects.append(retries)
        conn = real_connect(retries=retries)
        return DroppingConnection(conn) if len(connects) == 1 else conn

    monkeypatch.setattr(broker, "connect", connect)
    stop = threading.Event()
    seen = []

    def on_message(body, delivery):
        seen.append(body)
        delivery.ack()
        stop.set()

    with caplog.at_level(logging.INFO, logger="abaco_shared.broker"):
        assert broker.consume([q], on_message, stop, poll=0.05) is True
    assert seen == [{"n": 1}] and len(connects) == 2
    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert "cannot reach RabbitMQ" in lines[0] and "CONNECTION_FORCED" in lines[0]
    assert "is connected again after" in lines[1]


def test_a_callback_that_meets_a_store_outage_gets_its_delivery_again(broker, caplog):
    q = broker.queue("mongo_down")
    broker.publish(q, {"n": 7})
    stop = threading.Event()
    calls = []

    def on_message(body, delivery):
        calls.append(body)
        if len(calls) < 3:  # MongoDB is down for the first two tries
            raise pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")
        delivery.ack()
        stop.set()

    with caplog.at_level(logging.INFO, logger="abaco_shared.broker"):
        assert broker.consume([q], on_message, stop, poll=0.05) is True
    assert calls == [{"n": 7}] * 3, "handed back to the queue, not dropped, and tried again"
    assert broker.message_count(q) == 0
    lines = outage_lines(caplog)
    assert len(lines) == 2 and "cannot reach MongoDB" in lines[0] and "connected again" in lines[1], lines


def test_a_callback_that_fails_for_its_own_reasons_still_stops_the_consumer(broker):
    q = broker.queue("bug")
    broker.publish(q, {"n": 1})

    def on_message(body, delivery):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        broker.consume([q], on_message, threading.Event(), poll=0.05)
