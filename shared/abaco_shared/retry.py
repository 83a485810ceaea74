"""Retry, back-off and requeue rules for a consumer, in one place (the way dramatiq's Retries
middleware keeps them out of the worker's message handling).

A handler says what should become of a delivery (:class:`Disposition`); :meth:`RetryPolicy.run`
does it: ack, or requeue after a pause, and, on an unexpected exception, requeue with an
exponential back-off and stop the consumer after too many failures in a row. A store outage
(``outages.store_of``) is not a failure of the message: it is requeued and waited out, for as
long as it takes, with a back-off capped at 10 s and one log line per outage.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable

from .broker import Delivery
from .outages import Outage, store_of

__all__ = ["Disposition", "RetryPolicy"]

log = logging.getLogger(__name__)


class Disposition(enum.StrEnum):
    ACK = "ack"  # done with it (finished, given up on, or a duplicate)
    RETRY = "retry"  # hand it back to the queue to be tried again later


class RetryPolicy:
    """How often a message is tried and how long a consumer backs off.

    ``max_attempts``: runs of one message before it is given up (its attempts are counted on its
    record, so this holds across workers and restarts). ``max_failures``: unexpected exceptions in
    a row before the consumer stops (its process exits and is replaced); store outages do not
    count (``gave_up`` says whether the consumer was stopped for them).
    """

    def __init__(
        self,
        max_attempts: int = 3,
        retry_delay: float = 1.0,
        max_failures: int = 5,
        backoff_max: float = 10.0,
    ) -> None:
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_failures = max_failures
        self.backoff_max = backoff_max
        self.failures = 0
        self.gave_up = False
        self.outage = Outage("the message handler", logger=log)

    def exhausted(self, attempts: int) -> bool:
        """True when a message has already been run ``max_attempts`` times before this one."""
        return attempts > self.max_attempts

    def may_retry(self, attempts: int) -> bool:
        """True when a run that failed at attempt ``attempts`` should be tried again."""
        return attempts < self.max_attempts

    def backoff(self, failures: int) -> float:
        return float(min(2**failures, self.backoff_max))

    def run(self, handle: Callable[[], Disposition], delivery: Delivery, stop: threading.Event) -> Disposition:
        """Run ``handle`` for one delivery and settle it; returns what was done with it."""
        try:
            disposition = handle()
        except Exception as exc:
            if store_of(exc) is not None:  # not the message's fault: hand it back, wait, try again
                delivery.requeue()
                self.outage.wait(exc, stop)
                return Disposition.RETRY
            self.failures += 1
            log.exception("handling a message failed (%s in a row)", self.failures)
            delivery.requeue()
            if self.failures >= self.max_failures:
                log.error("too many failures in a row; stopping the consumer")
                self.gave_up = True
                stop.set()
            else:
                stop.wait(self.backoff(self.failures))
            return Disposition.RETRY
        self.failures = 0
        self.outage.ended()
        if disposition is Disposition.ACK:
            delivery.ack()
        else:
            delivery.requeue()
            stop.wait(self.retry_delay)
        return disposition
