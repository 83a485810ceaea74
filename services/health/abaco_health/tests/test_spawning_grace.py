"""A worker still starting whose spawner (on this host) is alive is not reaped at the start-up
timeout: its spawner waits for it with its own bounds. ``spawning_grace`` is the backstop."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from abaco_health.checks import HealthChecker
from abaco_shared import workers
from abaco_shared.config import HealthConfig, HostConfig
from abaco_shared.enums import WorkerStatus
from abaco_shared.models import Worker

from .test_checks import DEAD_PID, gone, make_worker, new_actor

CFG = HealthConfig(startup_timeout=120, spawning_grace=600)


@pytest.fixture
def live_spawner() -> Iterator[str]:
    """The token of a running process that looks like a spawner of host h1."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "abaco_spawner"])
    try:
        yield f"h1:{proc.pid}:cafe01"
    finally:
        proc.kill()
        proc.wait()


def starting(actor, age: int, spawner: str) -> Worker:
    worker = make_worker(actor, WorkerStatus.CREATING_CONTAINER, host_id="h1", age=age)
    Worker.objects(db_id=worker.db_id).update_one(set__spawner=spawner)
    return workers.get(worker.db_id)


def test_a_start_whose_spawner_is_alive_gets_the_grace_period(mongo, broker, docker, live_spawner):
    checker = HealthChecker(CFG, HostConfig(host_id="h1"), broker, docker, install_id="i1")
    actor = new_actor()
    driven = starting(actor, CFG.startup_timeout + 5, live_spawner)
    abandoned = starting(actor, CFG.startup_timeout + 5, f"h1:{DEAD_PID}:dead01")
    released = starting(actor, CFG.startup_timeout + 5, "")
    elsewhere = starting(actor, CFG.startup_timeout + 5, "h2:1234:beef01")  # h2's health judges it
    too_long = starting(actor, CFG.spawning_grace + 5, live_spawner)
    too_long_elsewhere = starting(actor, CFG.spawning_grace + 5, "h2:1234:beef01")

    report = checker.reap()

    assert not gone(driven) and not gone(elsewhere)
    assert gone(abandoned) and gone(released) and gone(too_long) and gone(too_long_elsewhere)
    assert report.stuck == 4
