"""Entry point: ``python -m abaco_spawner``."""

from __future__ import annotations

import functools
import threading

from abaco_shared.containers import DockerEngine
from abaco_shared.context import Context
from abaco_shared.service import run_service
from abaco_shared.store import ensure_indexes

from .launcher import launch_worker
from .spawner import Spawner


def _run(ctx: Context, stop: threading.Event) -> None:
    ensure_indexes()
    cfg = ctx.cfg
    launch = functools.partial(launch_worker, log_path=cfg.data_path / "logs" / "workers.log")
    docker = DockerEngine(cfg.host.docker_url, pull_timeout=cfg.spawner.pull_timeout)
    Spawner(cfg.spawner, cfg.host, ctx.broker, docker, launch, clientg_timeout=cfg.auth.clientg_timeout).run(stop)


def main() -> int:
    return run_service("spawner", _run)
