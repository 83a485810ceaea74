"""RetryPolicy and store outages: an outage is waited out (capped back-off, logged once) and never
counts towards the failures that make a consumer give up; a message's own failures still do."""

import logging
import threading

import pymongo.errors
import redis.exceptions

from abaco_shared.errors import ChannelError
from abaco_shared.retry import Disposition, RetryPolicy
from abaco_shared.testing import FakeDelivery


class RecordingStop(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def mongo_down() -> Disposition:
    raise pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")


def bug() -> Disposition:
    raise RuntimeError("this message breaks the handler")


def test_a_long_store_outage_never_stops_the_consumer(caplog):
    policy, stop = RetryPolicy(max_failures=5), RecordingStop()
    deliveries = [FakeDelivery() for _ in range(50)]  # far more tries than max_failures
    with caplog.at_level(logging.INFO, logger="abaco_shared.retry"):
        for delivery in deliveries:
            assert policy.run(mongo_down, delivery, stop) is Disposition.RETRY
        assert not stop.is_set() and not policy.gave_up and policy.failures == 0
        assert {d.settled for d in deliveries} == {"requeue"}, "each try hands the message back"
        assert stop.waits[:6] == [1, 2, 4, 8, 10, 10] and max(stop.waits) == 10, "capped back-off"

        done = FakeDelivery()
        assert policy.run(lambda: Disposition.ACK, done, stop) is Disposition.ACK
    assert done.settled == "ack"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "cannot reach MongoDB" in lines[0] and "connected again" in lines[1]


def test_outages_of_every_store_are_waited_out():
    for exc in (redis.exceptions.ConnectionError("refused"), ChannelError("cannot publish: refused")):
        policy, stop = RetryPolicy(max_failures=1), RecordingStop()

        def handle(exc=exc):
            raise exc

        assert policy.run(handle, FakeDelivery(), stop) is Disposition.RETRY
        assert not stop.is_set() and policy.failures == 0


def test_a_message_that_fails_for_its_own_reasons_still_makes_the_consumer_give_up():
    policy, stop = RetryPolicy(max_failures=3), RecordingStop()
    for _ in range(2):
        policy.run(bug, FakeDelivery(), stop)
        policy.run(mongo_down, FakeDelivery(), stop)  # outages in between neither count nor reset
    assert policy.failures == 2 and not stop.is_set()
    policy.run(bug, FakeDelivery(), stop)
    assert stop.is_set() and policy.gave_up
