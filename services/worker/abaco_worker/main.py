"""Entry point of one worker process, started by a spawner with its ids in the environment."""

from __future__ import annotations

import os
import sys
import threading

from abaco_shared.containers import DockerApi
from abaco_shared.context import Context
from abaco_shared.runtime import EXIT_CONFIG
from abaco_shared.service import run_service

from .worker import ActorWorker


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    worker_id = os.environ.get("ABACO_WORKER_ID") or (argv[0] if argv else "")
    actor_dbid = os.environ.get("ABACO_ACTOR_DBID") or (argv[1] if len(argv) > 1 else "")
    if not worker_id or not actor_dbid:
        print("usage: abaco-worker WORKER_ID ACTOR_DBID (or ABACO_WORKER_ID/ABACO_ACTOR_DBID)", file=sys.stderr)
        return EXIT_CONFIG

    def run(ctx: Context, stop: threading.Event) -> int:
        return ActorWorker(ctx, DockerApi(ctx.cfg.worker.docker_url), worker_id, actor_dbid).run(stop)

    return run_service(f"worker[{worker_id}]", run)
