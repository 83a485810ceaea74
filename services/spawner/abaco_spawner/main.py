"""Entry point: ``python -m abaco_spawner``."""

from __future__ import annotations

import threading

from abaco_shared.containers import DockerApi
from abaco_shared.context import Context
from abaco_shared.service import run_service
from abaco_shared.store import ensure_indexes

from .spawner import Spawner


def _run(ctx: Context, stop: threading.Event) -> None:
    ensure_indexes()
    Spawner(ctx, DockerApi(ctx.cfg.worker.docker_url)).run(stop)


def main() -> int:
    return run_service("spawner", _run)
