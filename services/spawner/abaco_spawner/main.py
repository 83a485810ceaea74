"""Entry point: ``python -m abaco_spawner``."""

from __future__ import annotations

import functools
import threading

from abaco_shared.containers import DockerEngine
from abaco_shared.context import Context
from abaco_shared.service import run_service
from abaco_shared.store import ensure_indexes

from .launcher import ZygoteLauncher, launch_worker
from .spawner import Spawner


def _run(ctx: Context, stop: threading.Event) -> None:
    ensure_indexes()
    cfg = ctx.cfg
    log_path = cfg.data_path / "logs" / "workers.log"
    zygote = ZygoteLauncher(log_path) if cfg.spawner.zygote else None
    launch = zygote or functools.partial(launch_worker, log_path=log_path)
    docker = DockerEngine(cfg.host.docker_url, pull_timeout=cfg.spawner.pull_timeout)
    try:
        Spawner(cfg.spawner, cfg.host, ctx.broker, docker, launch, clientg_timeout=cfg.auth.clientg_timeout).run(stop)
    finally:
        if zygote is not None:
            zygote.close()


def main() -> int:
    return run_service("spawner", _run)
