"""Finding a worker's process and a spawner's liveness on this host (from /proc)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from abaco_shared.runtime import spawner_alive, spawner_may_be_alive, spawner_token, worker_process

DEAD_PID = 2**22 + 12345  # above Linux's PID_MAX_LIMIT
SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def worker_proc() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(SLEEP, env=dict(os.environ, ABACO_WORKER_ID="W-probe-1"))
    yield proc
    proc.kill()
    proc.wait()


def test_a_worker_process_is_found_by_its_environment_without_a_pid(worker_proc):
    assert worker_process("W-probe-1") == worker_proc.pid
    assert worker_process("W-probe-2") is None


def test_a_recorded_pid_counts_only_while_it_is_that_workers(worker_proc):
    assert worker_process("W-probe-1", worker_proc.pid) == worker_proc.pid
    assert worker_process("W-other", worker_proc.pid) is None  # a reused pid
    assert worker_process("W-probe-1", DEAD_PID) is None
    worker_proc.kill()
    worker_proc.wait()
    assert worker_process("W-probe-1", worker_proc.pid) is None


def test_a_spawner_is_alive_while_its_process_runs_on_this_host():
    proc = subprocess.Popen([*SLEEP, "abaco_spawner"])
    try:
        assert spawner_alive(f"h1:{proc.pid}:x", "h1") is True
        assert spawner_alive(f"h1:{proc.pid}:x", "h2") is False  # another host's: never known
        assert spawner_alive(f"h1:{os.getpid()}:x", "h1") is False  # alive, but not a spawner
    finally:
        proc.kill()
        proc.wait()
    assert spawner_alive(f"h1:{proc.pid}:x", "h1") is False
    assert spawner_alive("", "h1") is False and spawner_alive("garbage", "h1") is False


def test_a_spawner_token_names_its_host_and_process():
    host, pid, nonce = spawner_token("host:a").rsplit(":", 2)
    assert (host, int(pid)) == ("host:a", os.getpid()) and nonce


def test_another_hosts_spawner_may_be_alive_a_dead_one_here_is_not():
    assert spawner_may_be_alive("h2:1:x", "h1") is True
    assert spawner_may_be_alive(f"h1:{DEAD_PID}:x", "h1") is False
    assert spawner_may_be_alive("", "h1") is False


def test_a_worker_forked_by_the_zygote_is_found_by_its_name():
    """A forked worker's /proc environ is its parent's: it names itself after its worker id."""
    script = "import time; open('/proc/self/comm', 'w').write('W-forked-1'); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 5
        while worker_process("W-forked-1") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker_process("W-forked-1") == proc.pid
        assert worker_process("W-forked-1", proc.pid) == proc.pid
        assert worker_process("W-forked-2", proc.pid) is None
    finally:
        proc.kill()
        proc.wait()
