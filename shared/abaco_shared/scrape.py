"""One scrape of ``GET /metrics``: the metric families, read from where each number lives.

    abaco_mailbox_messages{tenant,actor}   RabbitMQ: a passive declare per mailbox, only for actors
                                           with worker records or unfinished executions, at most
                                           ``max_mailboxes`` of them (the rest are counted as skipped)
    abaco_workers{status}                  MongoDB: one aggregation over the worker records
    abaco_executions{status,outcome}       MongoDB: one aggregation over the execution records
    histograms, autoscaler decisions       Redis: one pipelined round trip (``metrics``)

A scope names one tenant (an admin's) or None (every tenant); the Redis families are
platform-wide either way (they hold no tenant's data).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from . import executions, metrics, workers
from .actors import split_key
from .broker import Broker
from .channels import MailboxChannel
from .enums import WorkerStatus
from .errors import ChannelError
from .exposition import Family, Sample

__all__ = ["collect", "mailbox_candidates"]

log = logging.getLogger(__name__)


def mailbox_candidates(tenant: str | None) -> list[str]:
    """Keys of the actors whose mailbox may hold messages worth a look: those with worker
    records or unfinished executions, sorted."""
    keys = set(workers.actor_keys(tenant))
    keys.update(executions.actors_with_unfinished(None if tenant is None else _of_tenant(tenant)))
    return sorted(keys)


def _of_tenant(tenant: str) -> Callable[[str], bool]:
    prefix = f"{tenant}_"  # actor keys are "<tenant>_<actor id>"; tenant ids have no "_"
    return lambda key: key.startswith(prefix)


def _mailboxes(broker: Broker, tenant: str | None, cap: int) -> list[Family]:
    candidates = mailbox_candidates(tenant)
    samples: list[Sample] = []
    for key in candidates[:cap]:
        try:
            length = MailboxChannel(broker, key).length()
        except ChannelError as exc:
            log.warning("metrics: cannot read mailbox lengths: %s", exc)
            break
        owner, actor_id = split_key(key)
        samples.append(Sample.of(length, tenant=owner, actor=actor_id))
    return [
        Family(
            "abaco_mailbox_messages",
            "Messages waiting in an actor's mailbox (actors with workers or unfinished executions).",
            "gauge",
            samples,
        ),
        Family(
            "abaco_mailbox_actors_skipped",
            "Actors whose mailbox this scrape did not read (over metrics.max_mailboxes, or the broker failed).",
            "gauge",
            [Sample.of(len(candidates) - len(samples))],
        ),
    ]


def _workers(tenant: str | None) -> Family:
    counts = {status.value: 0 for status in WorkerStatus}
    counts.update(workers.count_by_status(tenant))
    samples = [Sample.of(n, status=status) for status, n in counts.items()]
    return Family("abaco_workers", "Worker records, by status.", "gauge", samples)


def _executions(tenant: str | None) -> Family:
    counts = executions.count_by_status(tenant)
    samples = [Sample.of(n, status=status, outcome=outcome) for (status, outcome), n in sorted(counts.items())]
    return Family(
        "abaco_executions",
        "Execution records, by status and outcome (outcome is empty until the execution ends).",
        "gauge",
        samples,
    )


def collect(tenant: str | None, broker: Broker, client: redis.Redis, prefix: str, max_mailboxes: int) -> list[Family]:
    """Every family of one scrape, for ``tenant`` (None: every tenant)."""
    started = time.perf_counter()
    families = [*_mailboxes(broker, tenant, max_mailboxes), _workers(tenant), _executions(tenant)]
    families += metrics.read_families(client, prefix)
    elapsed = time.perf_counter() - started
    families.append(
        Family("abaco_metrics_scrape_seconds", "Seconds this scrape took to collect.", "gauge", [Sample.of(elapsed)])
    )
    return families
