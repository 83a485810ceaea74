"""Start a worker process that is not our child: it survives a spawner restart.

Two ways, one result. :class:`ZygoteLauncher` asks a worker parent that has already imported
everything (``python -m abaco_worker.zygote``, our child) to fork the worker: milliseconds, and
the imported modules' pages stay shared. :func:`launch_worker` is the slow way it falls back on
when the zygote cannot answer: ``/bin/sh -c '... &'`` in a new session; the shell exits at once
and is reaped here. Either way the worker is re-parented to the nearest subreaper (supervisord,
started by ``scripts/supervisord-launch.py`` as one) or init, which reaps it when it exits.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from abaco_shared.errors import AbacoError

__all__ = ["launch_worker", "ZygoteLauncher", "LaunchError"]

log = logging.getLogger(__name__)


class LaunchError(AbacoError):
    """The worker process could not be started."""


class ZygoteTimeout(LaunchError):
    """The zygote did not answer: it may have forked the worker or not, so nothing else is tried
    (the spawner fails the start; a worker forked anyway finds no record and exits)."""


def _worker_argv() -> list[str]:
    return [sys.executable, "-m", "abaco_worker"]


def worker_env(worker_id: str, actor_dbid: str, extra_env: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: this process's, its ids, and ``extra_env`` (its clientg
    credential), which never enters this process's own environment."""
    return dict(os.environ, **extra_env, ABACO_WORKER_ID=worker_id, ABACO_ACTOR_DBID=actor_dbid)


def launch_worker(worker_id: str, actor_dbid: str, extra_env: Mapping[str, str], log_path: Path) -> int:
    """Start ``python -m abaco_worker`` detached; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = worker_env(worker_id, actor_dbid, extra_env)
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


class ZygoteLauncher:
    """Launches workers through a zygote (``python -m abaco_worker.zygote``), started on first
    use and again after it died; a launch it cannot make falls back on :func:`launch_worker`.

    Callable like ``launch_worker`` (thread-safe: requests go one at a time, each a fork).
    """

    def __init__(self, log_path: Path, timeout: float = 10.0) -> None:
        self.log_path = log_path
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def __call__(self, worker_id: str, actor_dbid: str, extra_env: Mapping[str, str]) -> int:
        env = worker_env(worker_id, actor_dbid, extra_env)
        with self._lock:
            try:
                return self._ask({"env": env, "log": str(self.log_path)})
            except ZygoteTimeout:
                self._stop()
                raise
            except (OSError, ValueError, LaunchError) as exc:
                log.warning("the worker zygote could not start a worker (%s); starting it the slow way", exc)
                self._stop()
        return launch_worker(worker_id, actor_dbid, extra_env, self.log_path)

    def _ask(self, request: dict[str, Any]) -> int:
        proc = self._zygote()
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = _readline(stdout, self.timeout)
        if not line:
            raise LaunchError(f"the worker zygote exited (code {proc.poll()})")
        answer = json.loads(line)
        if "pid" not in answer:
            raise LaunchError(f"the worker zygote refused: {answer.get('error')}")
        return int(answer["pid"])

    def _zygote(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as errors:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "abaco_worker.zygote", "--parent", str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=dict(os.environ),
            )
        log.info("worker zygote started", extra={"pid": self._proc.pid})
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()


def _readline(stream: IO[str], timeout: float) -> str:
    """One line from the zygote, or ZygoteTimeout after ``timeout`` seconds (a hung zygote)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise ZygoteTimeout(f"the worker zygote did not answer within {timeout:.0f} s")
    return stream.readline()
