"""RetryPolicy (``abaco_shared.retry``): what becomes of a delivery, back-off and giving up."""

import threading

import pytest

from abaco_shared.retry import Disposition, RetryPolicy
from abaco_shared.testing import FakeDelivery


class RecordingStop(threading.Event):
    """A stop event that records how long it was asked to wait (and never blocks)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def boom() -> Disposition:
    raise RuntimeError("handler failed")


def test_ack_acks_the_delivery_and_resets_the_failure_count():
    policy, delivery, stop = RetryPolicy(), FakeDelivery(), RecordingStop()
    policy.failures = 3
    assert policy.run(lambda: Disposition.ACK, delivery, stop) is Disposition.ACK
    assert delivery.settled == "ack"
    assert policy.failures == 0
    assert stop.waits == [] and not stop.is_set()


def test_retry_requeues_and_pauses_for_retry_delay():
    policy, delivery, stop = RetryPolicy(retry_delay=0.25), FakeDelivery(), RecordingStop()
    policy.failures = 2
    assert policy.run(lambda: Disposition.RETRY, delivery, stop) is Disposition.RETRY
    assert delivery.settled == "requeue"
    assert stop.waits == [0.25]
    assert policy.failures == 0, "a handler that answered is not a failure"
    assert not stop.is_set()


def test_retry_wait_returns_at_once_when_the_consumer_is_stopping():
    stop = threading.Event()
    stop.set()
    delivery = FakeDelivery()
    # a real Event that is already set: a one-hour retry_delay must not block
    assert RetryPolicy(retry_delay=3600).run(lambda: Disposition.RETRY, delivery, stop) is Disposition.RETRY
    assert delivery.settled == "requeue"


def test_an_exception_requeues_and_backs_off_exponentially():
    policy, stop = RetryPolicy(max_failures=5, backoff_max=10), RecordingStop()
    deliveries = [FakeDelivery() for _ in range(4)]
    for d in deliveries:
        assert policy.run(boom, d, stop) is Disposition.RETRY
    assert [d.settled for d in deliveries] == ["requeue"] * 4
    assert policy.failures == 4
    assert stop.waits == [2.0, 4.0, 8.0, 10.0], "doubling, capped at backoff_max"
    assert not stop.is_set()


def test_the_consumer_stops_after_max_failures_in_a_row_without_waiting():
    policy, stop = RetryPolicy(max_failures=3, backoff_max=0), RecordingStop()
    policy.run(boom, FakeDelivery(), stop)
    policy.run(boom, FakeDelivery(), stop)
    assert not stop.is_set()
    last = FakeDelivery()
    policy.run(boom, last, stop)
    assert stop.is_set()
    assert last.settled == "requeue", "the failed message goes back for another worker"
    assert stop.waits == [0.0, 0.0], "no back-off on the failure that stops the consumer"


def test_a_success_in_between_resets_the_run_of_failures():
    policy, stop = RetryPolicy(max_failures=2, backoff_max=0), RecordingStop()
    policy.run(boom, FakeDelivery(), stop)
    policy.run(lambda: Disposition.ACK, FakeDelivery(), stop)
    policy.run(boom, FakeDelivery(), stop)
    assert policy.failures == 1
    assert not stop.is_set(), "two failures, but not in a row"


@pytest.mark.parametrize(("failures", "expected"), [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0), (60, 10.0)])
def test_backoff_doubles_up_to_backoff_max(failures, expected):
    value = RetryPolicy(backoff_max=10).backoff(failures)
    assert value == expected and isinstance(value, float)


def test_may_retry_and_exhausted_boundaries():
    policy = RetryPolicy(max_attempts=3)
    # attempt n failed: try again while n < max_attempts
    assert [policy.may_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]
    # the claim of attempt n: give up only once max_attempts runs have already happened
    assert [policy.exhausted(n) for n in (1, 3, 4, 5)] == [False, False, True, True]


def test_one_attempt_means_no_retry():
    policy = RetryPolicy(max_attempts=1)
    assert not policy.may_retry(1)
    assert not policy.exhausted(1) and policy.exhausted(2)
