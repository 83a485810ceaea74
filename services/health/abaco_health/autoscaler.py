"""The autoscaler: workers of stateless actors follow their mailboxes.

Each pass, for every stateless actor that takes work (not ERROR nor SHUTTING_DOWN):

- mailbox not empty: request workers (at most ``max_scale_up`` a pass) while the messages
  waiting outnumber the workers not BUSY: on their way (REQUESTED .. UPDATING STORE) or idle (READY: a
  message may sit in the queue a moment before a READY worker takes it), up to the actor's
  ``max_workers`` (else ``spawner.max_workers_per_actor``) and within the tenant/user quota;
- mailbox empty: stop READY workers idle (last execution, else creation) for ``worker_idle_ttl``
  seconds, down to the actor's ``min_workers`` (an actor hinted ``sync`` keeps one while it was
  active within ``sync_max_idle_time``). A stop is ``stop-no-delete`` with the record marked
  SHUTDOWN_REQUESTED first, so the reap pass never takes it for a death to make good.

Stateful actors are left alone (one worker, started by a message). One health process per host
runs this, and one of them takes each period (``exclusive``); an atomic claim on the actor
record per pass period also keeps two from scaling one actor in the same period. Each decision
is counted (:func:`abaco_shared.metrics.record_decision`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis

from abaco_shared import actors, metrics, workers
from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import HealthConfig, SpawnerConfig
from abaco_shared.enums import WorkerStatus
from abaco_shared.errors import ChannelError
from abaco_shared.metrics import AutoscalerDecision
from abaco_shared.models import Actor, Worker, utcnow
from abaco_shared.outages import Outage, store_of
from abaco_shared.workflows.scaling import Quota, claim_slot, request_worker, stop_worker

__all__ = ["Autoscaler", "ScaleReport"]

log = logging.getLogger(__name__)

SYNC_HINT = "sync"


@dataclass
class ScaleReport:
    up: int = 0
    down: int = 0
    blocked: int = 0
    decisions: dict[str, str] = field(default_factory=dict)  # actor db_id -> decision


class Autoscaler:
    def __init__(
        self,
        cfg: HealthConfig,
        spawner: SpawnerConfig,
        broker: Broker,
        redis_client: Any = None,
        redis_prefix: str = "",
        exclusive: bool = False,
    ) -> None:
        self.cfg = cfg
        self.max_per_actor = spawner.max_workers_per_actor
        self.quota = Quota(spawner.max_workers_per_tenant, spawner.max_workers_per_user)
        self.broker = broker
        self.redis = redis_client
        self.redis_prefix = redis_prefix
        self.exclusive = exclusive
        self.outage = Outage("health's autoscaler pass", logger=log)

    def run(self) -> ScaleReport:
        """One pass over every stateless actor; a store outage ends it quietly (logged once).

        With ``exclusive`` passes, one health process (of any host) makes each period's pass: the
        others find the period taken in Redis and skip it (should Redis not answer, they all pass,
        and the claim per actor still keeps them from scaling one actor twice). The pass reads
        every actor's workers in one query and counts its decisions in one Redis round trip."""
        report = ScaleReport()
        if not self.cfg.autoscaling or not self._take_period():
            return report
        decisions: Counter[AutoscalerDecision] = Counter()
        try:
            live_by_actor = workers.pending_by_actor()
            for actor in actors.stateless():
                if actors.accepts_work(actor):
                    decision = self._scale(actor, live_by_actor.get(actor.db_id, []), report)
                    if decision is not None:
                        decisions[decision] += 1
        except Exception as exc:
            if store_of(exc) is None:
                raise
            self.outage.failed(exc)
        else:
            self.outage.ended()
        self._record(decisions)
        if report.up or report.down or report.blocked:
            log.info("autoscaler pass", extra={"up": report.up, "down": report.down, "blocked": report.blocked})
        return report

    def _take_period(self) -> bool:
        if not self.exclusive or self.redis is None:
            return True
        ttl_ms = max(100, int(self.cfg.autoscale_interval * 900))  # 0.9 period: the next one is free
        try:
            return bool(self.redis.set(f"{self.redis_prefix}autoscaler:pass", "1", nx=True, px=ttl_ms))
        except redis.RedisError:
            return True

    def _scale(self, actor: Actor, live: list[Worker], report: ScaleReport) -> AutoscalerDecision | None:
        try:
            waiting = MailboxChannel(self.broker, actor.db_id).length()
        except ChannelError:
            return None  # the broker is down: nothing to decide on
        if waiting > 0:
            decision = self._scale_up(actor, waiting, live, report)
        else:
            decision = self._scale_down(actor, live, report)
        report.decisions[actor.db_id] = decision.value
        return decision

    def _claim(self, actor: Actor) -> bool:
        return actors.claim_worker_slot(actor.db_id, claim_slot(self.cfg.autoscale_interval, prefix="as"))

    def _scale_up(self, actor: Actor, waiting: int, live: list[Worker], report: ScaleReport) -> AutoscalerDecision:
        # workers that will take a message soon: still starting, or READY (idle, about to get one)
        starting = sum(1 for w in live if w.status != WorkerStatus.BUSY.value)
        limit = actor.max_workers or self.max_per_actor
        wanted = min(waiting - starting, limit - len(live), self.cfg.max_scale_up)
        if waiting - starting <= 0:
            return AutoscalerDecision.HOLD
        if wanted <= 0:
            report.blocked += 1
            return AutoscalerDecision.BLOCKED
        room = self.quota.room(actor)
        if room is not None and room < wanted:
            wanted = room
            if wanted <= 0:
                report.blocked += 1
                return AutoscalerDecision.BLOCKED
        if not self._claim(actor):
            return AutoscalerDecision.HOLD  # another health process scales it in this period
        for _ in range(wanted):
            try:
                request_worker(actor, self.broker)
            except ChannelError:
                break
            report.up += 1
        log.info("autoscaler: scale up", extra={"actor_id": actor.db_id, "workers": wanted, "waiting": waiting})
        return AutoscalerDecision.SCALE_UP

    def _scale_down(self, actor: Actor, live: list[Worker], report: ScaleReport) -> AutoscalerDecision:
        now = utcnow()
        keep = max(0, actor.min_workers or 0)
        if SYNC_HINT in (actor.hints or []) and live:
            last = max(_last_activity(w) for w in live)
            if now - last < dt.timedelta(seconds=self.cfg.sync_max_idle_time):
                keep = max(keep, 1)
        ttl = dt.timedelta(seconds=self.cfg.worker_idle_ttl)
        idle = [w for w in live if w.status == WorkerStatus.READY.value and now - _last_activity(w) >= ttl]
        excess = min(len(idle), len(live) - keep)
        if excess <= 0:
            return AutoscalerDecision.HOLD
        if not self._claim(actor):
            return AutoscalerDecision.HOLD
        idle.sort(key=_last_activity)  # the longest idle go first
        for worker in idle[:excess]:
            # only a worker still READY (not just given a message) is stopped
            if not workers.take_over(worker, WorkerStatus.SHUTDOWN_REQUESTED):
                continue
            try:
                stop_worker(workers.get(worker.db_id) or worker, self.broker)
            except ChannelError:
                continue
            report.down += 1
        log.info("autoscaler: scale down", extra={"actor_id": actor.db_id, "workers": excess})
        return AutoscalerDecision.SCALE_DOWN

    def _record(self, decisions: Counter[AutoscalerDecision]) -> None:
        if self.redis is None or not decisions:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for decision, count in decisions.items():
                metrics.record_decision(pipe, self.redis_prefix, decision, count)
            pipe.execute()
        except redis.RedisError:
            pass  # a counter never stops the autoscaler


_PENDING = {s.value for s in WorkerStatus.pending()}


def _last_activity(worker: Worker) -> dt.datetime:
    return worker.last_execution_time or worker.create_time
