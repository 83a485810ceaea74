"""What one try at delivering an event amounts to, and when to try again.

Retried: connection errors, timeouts, HTTP 429 and 5xx, and a link message the broker or the
database did not take. Given up at once: any other answer (a 4xx, or a 3xx: redirects are never
followed), a link that is no longer allowed. At most ``attempts`` tries, with pauses of
``backoff``, ``2*backoff``, ``4*backoff``... seconds (at most ``backoff_max``) between them; a 429
or 503's ``Retry-After`` may lengthen a pause, up to ``backoff_max``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from abaco_shared.config import EventsConfig

__all__ = ["Verdict", "Attempt", "RetryPolicy", "verdict_for_status"]


class Verdict(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # worth another try later
    GIVE_UP = "give up"  # another try would fare no better


@dataclass(frozen=True)
class Attempt:
    """The result of one try: its verdict, in words for the log, and the receiver's Retry-After."""

    verdict: Verdict
    detail: str
    retry_after: float | None = None


def verdict_for_status(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 429 or status >= 500:
        return Verdict.RETRY
    return Verdict.GIVE_UP


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff: float = 1.0
    backoff_max: float = 60.0

    @classmethod
    def from_config(cls, cfg: EventsConfig) -> RetryPolicy:
        return cls(cfg.webhook_attempts, cfg.webhook_backoff, cfg.webhook_backoff_max)

    def next_delay(self, attempt: Attempt, tries: int) -> float | None:
        """Seconds to wait before try ``tries + 1`` after ``attempt`` (try ``tries``) failed, or
        None when there is to be no other try."""
        if attempt.verdict is not Verdict.RETRY or tries >= self.attempts:
            return None
        delay = min(self.backoff * 2 ** (tries - 1), self.backoff_max)
        if attempt.retry_after is not None:
            delay = max(delay, min(attempt.retry_after, self.backoff_max))
        return delay
