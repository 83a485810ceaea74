"""Entry point: ``python -m abaco_health`` runs the health jobs on an APScheduler schedule."""

from __future__ import annotations

import threading
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from abaco_shared.containers import DockerEngine
from abaco_shared.context import Context
from abaco_shared.service import run_service

from .autoscaler import Autoscaler
from .checks import HealthChecker
from .cron_job import CronJob
from .sweeper import DirSweeper

__all__ = ["main", "make_scheduler"]


def make_scheduler(
    checker: HealthChecker,
    reap_every: int,
    ping_every: int,
    cron: CronJob | None = None,
    cron_every: int = 10,
    sweeper: DirSweeper | None = None,
    sweep_every: int = 60,
    autoscaler: Autoscaler | None = None,
    autoscale_every: int = 2,
) -> BackgroundScheduler:
    """The health jobs: one instance at a time each, missed runs coalesced into one."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True})
    scheduler.add_job(checker.reap, "interval", seconds=reap_every, id="reap")
    scheduler.add_job(checker.ping, "interval", seconds=ping_every, id="ping")
    if cron is not None:
        scheduler.add_job(cron.run, "interval", seconds=cron_every, id="cron")
    if sweeper is not None:
        scheduler.add_job(sweeper.run, "interval", seconds=sweep_every, id="sweep")
    if autoscaler is not None:
        scheduler.add_job(autoscaler.run, "interval", seconds=autoscale_every, id="autoscale")
    return scheduler


def _run(ctx: Context, stop: threading.Event) -> None:
    cfg = ctx.cfg
    checker = HealthChecker(cfg.health, cfg.host, ctx.broker, DockerEngine(cfg.host.docker_url), cfg.general.install_id)
    cron = CronJob(ctx.broker, cfg.general.api_server)
    worker_dirs = [
        Path(cfg.worker.socket_dir or cfg.data_path / "sockets"),
        Path(cfg.worker.binary_dir or cfg.data_path / "binary"),
    ]
    scheduler = make_scheduler(
        checker,
        cfg.health.reap_interval,
        cfg.health.interval,
        cron,
        cfg.health.cron_interval,
        DirSweeper(worker_dirs),
        cfg.health.sweep_interval,
        Autoscaler(cfg.health, cfg.spawner, ctx.broker, ctx.redis, cfg.redis.key_prefix, exclusive=True)
        if cfg.health.autoscaling
        else None,
        cfg.health.autoscale_interval,
    )
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)


def main() -> int:
    return run_service("health", _run)
