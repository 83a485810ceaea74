"""Entry point: ``python -m abaco_spawner``."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping

from abaco_shared.containers import DockerEngine
from abaco_shared.context import Context
from abaco_shared.errors import DockerError
from abaco_shared.service import run_service
from abaco_shared.store import ensure_indexes

from .launcher import ZygoteLauncher, launch_worker
from .spawner import Launcher, Spawner

log = logging.getLogger(__name__)


def with_engine_facts(launch: Launcher, docker: DockerEngine) -> Launcher:
    """``launch``, with the engine's facts in each worker's environment (``enginefacts``: the
    worker then starts without asking the engine); as it is when the engine cannot tell them."""
    try:
        facts = docker.facts().env()
    except DockerError as exc:
        log.warning("the workers will ask the Docker engine for its facts themselves: %s", exc)
        return launch

    def launch_with_facts(worker_id: str, actor_dbid: str, extra_env: Mapping[str, str]) -> int:
        return launch(worker_id, actor_dbid, {**facts, **extra_env})

    return launch_with_facts


def _run(ctx: Context, stop: threading.Event) -> None:
    ensure_indexes()
    cfg = ctx.cfg
    log_path = cfg.data_path / "logs" / "workers.log"
    zygote = ZygoteLauncher(log_path) if cfg.spawner.zygote else None
    docker = DockerEngine(cfg.host.docker_url, pull_timeout=cfg.spawner.pull_timeout)
    launch = with_engine_facts(zygote or functools.partial(launch_worker, log_path=log_path), docker)
    try:
        Spawner(cfg.spawner, cfg.host, ctx.broker, docker, launch, clientg_timeout=cfg.auth.clientg_timeout).run(stop)
    finally:
        if zygote is not None:
            zygote.close()


def main() -> int:
    return run_service("spawner", _run)
