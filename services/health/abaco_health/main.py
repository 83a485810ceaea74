"""Entry point: ``python -m abaco_health`` runs the health jobs on an APScheduler schedule."""

from __future__ import annotations

import threading

from abaco_shared.context import Context
from abaco_shared.service import run_service
from apscheduler.schedulers.background import BackgroundScheduler

from .checks import HealthChecker


def _run(ctx: Context, stop: threading.Event) -> None:
    checker = HealthChecker(ctx)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        checker.check_workers,
        "interval",
        seconds=ctx.cfg.health.interval,
        id="check_workers",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)


def main() -> int:
    return run_service("health", _run)
