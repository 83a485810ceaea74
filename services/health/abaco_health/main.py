"""Entry point: ``python -m abaco_health`` runs the health jobs on an APScheduler schedule."""

from __future__ import annotations

import threading

from apscheduler.schedulers.background import BackgroundScheduler

from abaco_shared.containers import DockerApi
from abaco_shared.context import Context
from abaco_shared.service import run_service

from .checks import HealthChecker


def _run(ctx: Context, stop: threading.Event) -> None:
    checker = HealthChecker(ctx, DockerApi(ctx.cfg.worker.docker_url))
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True})
    scheduler.add_job(checker.reap, "interval", seconds=ctx.cfg.health.reap_interval, id="reap")
    scheduler.add_job(checker.ping, "interval", seconds=ctx.cfg.health.interval, id="ping")
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)


def main() -> int:
    return run_service("health", _run)
