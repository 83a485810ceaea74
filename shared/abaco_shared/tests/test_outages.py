"""Store outages (``abaco_shared.outages``): which errors are one, the 503 they become, and the
capped back-off a background loop waits them out with, logged once per outage."""

import logging
import threading

import amqp.exceptions
import kombu.exceptions
import mongoengine.errors
import pymongo.errors
import pytest
import redis.exceptions

from abaco_shared import outages
from abaco_shared.errors import ChannelError, ChannelTimeout, StoreUnavailable, ValidationError
from abaco_shared.outages import MONGODB, RABBITMQ, REDIS, Backoff, Outage, store_of, unavailable


class RecordingStop(threading.Event):
    """A stop event that records how long it was asked to wait (and never blocks)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "store"),
    [
        (pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"), MONGODB),
        (pymongo.errors.AutoReconnect("connection closed"), MONGODB),
        (pymongo.errors.NetworkTimeout("timed out"), MONGODB),
        (pymongo.errors.NotPrimaryError("not primary"), MONGODB),
        (pymongo.errors.OperationFailure("interrupted at shutdown", code=11600), MONGODB),
        (pymongo.errors.OperationFailure("bad query", code=2), None),
        (pymongo.errors.DuplicateKeyError("E11000 duplicate key"), None),
        (redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"), REDIS),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), REDIS),
        (redis.exceptions.BusyLoadingError("loading the dataset"), REDIS),
        (redis.exceptions.ResponseError("WRONGTYPE"), None),
        (kombu.exceptions.OperationalError("[Errno 111] Connection refused"), RABBITMQ),
        (amqp.exceptions.ConnectionForced("broker forced connection closure"), RABBITMQ),
        (ChannelError("cannot publish to q: [Errno 111] Connection refused"), RABBITMQ),
        (ChannelTimeout("no message on reply within 10s"), None),
        (ValidationError("bad input"), None),
        (ValueError("a bug"), None),
        (ConnectionRefusedError(111, "refused"), None),  # whose? unknown: not mapped
    ],
)
def test_store_of_names_the_store_an_error_says_is_down(exc, store):
    assert store_of(exc) == store


def test_store_of_looks_through_what_an_error_was_raised_from():
    wrapped = raised_from(mongoengine.errors.OperationError("Could not save"), pymongo.errors.AutoReconnect("gone"))
    assert store_of(wrapped) == MONGODB
    # a ChannelError raised from a Redis error (the completion signals) is Redis's outage
    assert store_of(raised_from(ChannelError("cannot wait"), redis.exceptions.ConnectionError("x"))) == REDIS
    assert store_of(raised_from(RuntimeError("bug"), KeyError("k"))) is None


def test_unavailable_is_a_503_that_names_the_store():
    error = unavailable(pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: refused"))
    assert isinstance(error, StoreUnavailable) and error.http_status == 503
    assert error.message == f"MongoDB (the database) is unavailable; try again in {outages.RETRY_AFTER} seconds."
    assert "27017" not in error.message, "the driver's words are for the log"
    assert unavailable(redis.exceptions.ConnectionError("x")).message.startswith("Redis (the cache)")
    assert unavailable(ChannelError("x")).message.startswith("RabbitMQ (the message broker)")
    assert unavailable(ValueError("bug")) is None
    assert unavailable(error) is error


def test_the_default_backoff_finds_a_restarted_store_within_ten_seconds():
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 10, 10, 10]


def test_backoff_doubles_from_first_up_to_cap_and_resets():
    backoff = Backoff(first=1.0, cap=30.0)
    assert [backoff.next() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next() == 1
    assert [Backoff(0.5, 2).next() for _ in range(1)] == [0.5]
    with pytest.raises(ValueError):
        Backoff(first=0)
    with pytest.raises(ValueError):
        Backoff(first=5, cap=1)


def test_backoff_never_overflows_after_a_very_long_outage():
    backoff = Backoff(1.0, 30.0)
    backoff.tries = 10_000
    assert backoff.next() == 30


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    clock = iter([100.0, 142.0])
    outage = Outage("the test loop", clock=lambda: next(clock))
    stop = RecordingStop()
    down = pymongo.errors.ServerSelectionTimeoutError("refused")
    with caplog.at_level(logging.INFO, logger="abaco_shared.outages"):
        for _ in range(7):
            assert outage.wait(down, stop) is False
        assert outage.active
        outage.ended()
        outage.ended()  # nothing more to say
    assert stop.waits == [1, 2, 4, 8, 10, 10, 10]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("the test loop cannot reach MongoDB; retrying with back-off up to 10s")
    assert messages[1] == "the test loop is connected again after 42s"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert not outage.active


def test_the_next_outage_starts_its_back_off_again(caplog):
    outage, stop = Outage("loop"), RecordingStop()
    for _ in range(3):
        outage.wait(ChannelError("down"), stop)
    outage.ended()
    outage.wait(ChannelError("down again"), stop)
    assert stop.waits == [1, 2, 4, 1]
    assert sum("cannot reach RabbitMQ" in r.getMessage() for r in caplog.records) == 2


def test_wait_returns_true_at_once_when_stopping():
    stop = threading.Event()
    stop.set()
    assert Outage("loop", Backoff(3600, 3600)).wait(ChannelError("down"), stop) is True
