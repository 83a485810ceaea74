"""Platform counters and histograms kept in Redis, written where things happen and read by
``GET /metrics`` (the admin API).

Keys, under ``redis.key_prefix``:

    metrics:histogram:<family>   hash  <bucket upper bound> -> observations in that bucket
                                       (not cumulative; "+Inf" above the last bound),
                                       "sum" -> their sum in seconds
    metrics:counter:<family>     hash  <label value> -> count

Writers:
- a worker adds one observation to each execution histogram when it records an execution, in the
  pipeline that already signals the execution's end (``CompletionSignals.notify(then=...)``): no
  round trip of its own;
- the autoscaler calls :func:`record_decision` (one HINCRBY) for each decision it takes.

Counts only grow (Prometheus counters); the bucket a value lands in is chosen at write time, and a
reader re-bins stored bounds into its own, so changing the bounds never miscounts.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from .exposition import Family, HistogramData, Sample, format_value

__all__ = [
    "Histogram",
    "QUEUE_WAIT",
    "CONTAINER_START",
    "RUNTIME",
    "HISTOGRAMS",
    "AutoscalerDecision",
    "AUTOSCALER_DECISIONS",
    "ExecutionTimings",
    "record_decision",
    "read_families",
]

SUM_FIELD = "sum"


@dataclass(frozen=True)
class Histogram:
    """A histogram family stored in one Redis hash."""

    name: str
    help: str
    bounds: tuple[float, ...]

    def key(self, prefix: str) -> str:
        return f"{prefix}metrics:histogram:{self.name}"

    def field_for(self, value: float) -> str:
        """The stored bucket of ``value``: its smallest bound at least ``value``, else ``+Inf``."""
        for bound in self.bounds:
            if value <= bound:
                return format_value(bound)
        return "+Inf"

    def observe(self, pipe: Any, prefix: str, value: float) -> None:
        """Queue one observation (two commands) on a Redis pipeline or client."""
        key = self.key(prefix)
        pipe.hincrby(key, self.field_for(value), 1)
        pipe.hincrbyfloat(key, SUM_FIELD, value)

    def data(self, stored: dict[str, str]) -> HistogramData:
        """The cumulative buckets of a stored hash (unreadable fields are ignored)."""
        counts: list[tuple[float, int]] = []
        total_sum = 0.0
        for field, raw in stored.items():
            try:
                if field == SUM_FIELD:
                    total_sum = float(raw)
                else:
                    counts.append((math.inf if field == "+Inf" else float(field), int(raw)))
            except ValueError:
                continue
        cumulative = tuple(sum(n for upper, n in counts if upper <= bound) for bound in self.bounds)
        return HistogramData(self.bounds, cumulative, sum(n for _, n in counts), total_sum)


QUEUE_WAIT = Histogram(
    "abaco_execution_queue_wait_seconds",
    "Seconds from a message's arrival to a worker taking it (message_received_time to claim).",
    (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
CONTAINER_START = Histogram(
    "abaco_execution_container_start_seconds",
    "Seconds from a worker taking a message to its container running (claim to the container's StartedAt).",
    (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60),
)
RUNTIME = Histogram(
    "abaco_execution_runtime_seconds",
    "Seconds an execution's container ran (its runtime).",
    (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)
HISTOGRAMS = (QUEUE_WAIT, CONTAINER_START, RUNTIME)


class AutoscalerDecision(enum.StrEnum):
    """What one autoscaler pass decided for one actor (the ``decision`` label)."""

    SCALE_UP = "scale_up"  # a worker was requested
    SCALE_DOWN = "scale_down"  # a worker was asked to stop
    HOLD = "hold"  # nothing to change
    BLOCKED = "blocked"  # more workers were wanted, but a limit or quota said no


AUTOSCALER_DECISIONS = "abaco_autoscaler_decisions_total"
_AUTOSCALER_HELP = "Autoscaler decisions, by decision."


def _counter_key(prefix: str, family: str) -> str:
    return f"{prefix}metrics:counter:{family}"


def record_decision(client: Any, prefix: str, decision: AutoscalerDecision, count: int = 1) -> None:
    """Count an autoscaler decision (one HINCRBY; ``client`` may be a pipeline). Redis errors are
    the caller's to handle: a counter must never stop the autoscaler, so catch ``redis.RedisError``."""
    client.hincrby(_counter_key(prefix, AUTOSCALER_DECISIONS), AutoscalerDecision(decision).value, count)


def _epoch(when: dt.datetime | None) -> float | None:
    """A naive UTC datetime (what the records hold) as seconds since the epoch."""
    return None if when is None else when.replace(tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True)
class ExecutionTimings:
    """The three durations of one execution, in seconds (None: unknown, not observed)."""

    queue_wait: float | None
    container_start: float | None
    runtime: float | None

    @classmethod
    def of(
        cls, received: dt.datetime | None, taken: float, started: dt.datetime | None, runtime_ms: int
    ) -> ExecutionTimings:
        """From the message's arrival (record time), the moment the worker took it (epoch
        seconds), the container's start (Docker's StartedAt) and its runtime. Clock skew between
        hosts never makes a negative duration: it is clamped to 0."""
        arrived, began = _epoch(received), _epoch(started)
        return cls(
            queue_wait=None if arrived is None else max(0.0, taken - arrived),
            container_start=None if began is None else max(0.0, began - taken),
            runtime=None if began is None else max(0, runtime_ms) / 1000,
        )

    def write(self, pipe: Any, prefix: str) -> None:
        """Queue the observations on a Redis pipeline (six commands at most)."""
        for histogram, value in ((QUEUE_WAIT, self.queue_wait), (CONTAINER_START, self.container_start)):
            if value is not None:
                histogram.observe(pipe, prefix, value)
        if self.runtime is not None:
            RUNTIME.observe(pipe, prefix, self.runtime)

    def writer(self, prefix: str) -> Callable[[Any], None]:
        """:meth:`write` bound to ``prefix``: for ``CompletionSignals.notify(then=...)``."""
        return lambda pipe: self.write(pipe, prefix)


def read_families(client: redis.Redis, prefix: str) -> list[Family]:
    """The histograms and counters kept in Redis, as families (one round trip). Every
    autoscaler decision has a series, zero until counted."""
    with client.pipeline(transaction=False) as pipe:
        for histogram in HISTOGRAMS:
            pipe.hgetall(histogram.key(prefix))
        pipe.hgetall(_counter_key(prefix, AUTOSCALER_DECISIONS))
        *stored, decisions = pipe.execute()
    families = [
        Family(h.name, h.help, "histogram", histograms=[h.data(raw or {})])
        for h, raw in zip(HISTOGRAMS, stored, strict=True)
    ]
    counts = {d.value: 0 for d in AutoscalerDecision}
    for name, raw in (decisions or {}).items():
        if name in counts:
            try:
                counts[name] = int(raw)
            except ValueError:
                continue
    samples = [Sample.of(n, decision=name) for name, n in counts.items()]
    families.append(Family(AUTOSCALER_DECISIONS, _AUTOSCALER_HELP, "counter", samples))
    return families
