"""The cron job of the health process: one cron pass (``abaco_shared.workflows.cron``) per tick.

Every health process runs it, on every host: each actor's slot is taken by exactly one of them
(a conditional update), so running it in several places is safe and survives losing one host.
"""

from __future__ import annotations

from abaco_shared.broker import Broker
from abaco_shared.workflows.cron import CronReport, run_due

__all__ = ["CronJob"]


class CronJob:
    """Runs the actors whose cron slot has come; APScheduler calls :meth:`run` every few seconds."""

    def __init__(self, broker: Broker, api_server: str) -> None:
        self.broker = broker
        self.api_server = api_server

    def run(self) -> CronReport:
        return run_due(self.broker, self.api_server)
