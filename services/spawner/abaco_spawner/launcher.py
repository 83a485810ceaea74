"""Start a worker process that is not our child: it survives a spawner restart.

The worker is started through ``/bin/sh -c '... &'`` in a new session; the shell exits at once
and is reaped here, so the worker is re-parented to the nearest subreaper (supervisord, started by
``scripts/supervisord-launch.py`` as one) or init, which reaps it when it exits: no zombies.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from abaco_shared.errors import AbacoError

__all__ = ["launch_worker"]


class LaunchError(AbacoError):
    """The worker process could not be started."""


def _worker_argv() -> list[str]:
    return [sys.executable, "-m", "abaco_worker"]


def launch_worker(worker_id: str, actor_dbid: str, extra_env: Mapping[str, str], log_path: Path) -> int:
    """Start ``python -m abaco_worker`` detached; return its pid. ``extra_env`` (the worker's
    clientg credential) goes to that process only, never into this one's environment."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **extra_env, ABACO_WORKER_ID=worker_id, ABACO_ACTOR_DBID=actor_dbid)
    script = 'exec "$@" </dev/null >>"$ABACO_WORKER_LOG" 2>&1 & echo $!'
    env["ABACO_WORKER_LOG"] = str(log_path)
    try:
        out = subprocess.run(
            ["/bin/sh", "-c", script, "sh", *_worker_argv()],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            start_new_session=True,
            check=True,
        ).stdout
        return int(out.strip())
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise LaunchError(f"cannot start a worker process: {exc}") from exc
