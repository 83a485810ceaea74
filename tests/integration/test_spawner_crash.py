"""A spawner SIGKILLed part way through a worker start: the restarted spawner (supervisord brings
it back) gets the unacked command again and resumes the start, so the actor's first execution
completes in seconds (not after health's 120 s start-up timeout) with exactly one worker.

The kill is aimed: a watcher polls the new actor's worker record in MongoDB and kills the
spawner as soon as the record reaches the given stage of the start (a short window, SPAWNER
SETUP, is caught at the next stage at the latest). The stage the kill left is asserted to be a
start in progress, never READY, so each case really hits the window.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from abaco_shared.config import load_config
from abaco_shared.models import Worker
from abaco_shared.store import connect_mongo, disconnect_mongo

from .conftest import supervisorctl

STAGES = ["SPAWNER SETUP", "PULLING IMAGE", "CREATING CONTAINER", "UPDATING STORE"]
BOUND = 30.0  # seconds from the kill to the completed execution (health's timeout is 120)


@pytest.fixture
def mongo() -> Iterator[None]:
    connect_mongo(load_config(env={}).mongo)
    try:
        yield
    finally:
        disconnect_mongo()


def spawner_pid() -> int:
    out = supervisorctl("pid", "abaco:spawner").strip()
    assert out.isdigit() and int(out) > 0, f"abaco:spawner is not running: {out}"
    return int(out)


def wait_spawner_back(old: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = supervisorctl("status", "abaco:spawner")
        pid = supervisorctl("pid", "abaco:spawner").strip()
        if "RUNNING" in out and pid.isdigit() and int(pid) not in (0, old):
            return
        time.sleep(0.5)
    raise AssertionError("supervisord did not restart the spawner")


def worker_processes(worker_id: str) -> list[int]:
    """Processes on this host that are the worker (a worker started twice shows): its environment
    names it (started with ``python -m abaco_worker``) or its name is its id (forked by the zygote)."""
    entry = f"ABACO_WORKER_ID={worker_id}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                named = (d / "comm").read_text().strip() == worker_id[:15]
                if named or entry in (d / "environ").read_bytes().split(b"\0"):
                    found.append(int(d.name))
            except OSError:
                continue
    return found


class Sniper(threading.Thread):
    """Kills the spawner as soon as a worker of ``tenant`` reaches ``stage`` (or a later stage of
    its start); records the status the kill left behind."""

    def __init__(self, tenant: str, stage: str, pid: int, also_the_worker: bool = False) -> None:
        super().__init__(daemon=True)
        self.tenant, self.targets, self.pid = tenant, set(STAGES[STAGES.index(stage) :]), pid
        self.also_the_worker = also_the_worker
        self.seen: str | None = None
        self.left: str | None = None
        self.worker_id = ""

    def run(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            worker = Worker.objects(tenant=self.tenant).only("status", "worker_id").first()
            if worker is not None and worker.status in self.targets:
                os.kill(self.pid, signal.SIGKILL)
                self.seen, self.worker_id = worker.status, worker.worker_id
                if self.also_the_worker:  # the worker process the spawner launched dies too
                    for worker_pid in worker_processes(worker.worker_id):
                        os.kill(worker_pid, signal.SIGKILL)
                after = Worker.objects(tenant=self.tenant).only("status").first()
                self.left = after.status if after else None
                return
            time.sleep(0.001)


@pytest.mark.parametrize(
    "stage, also_the_worker",
    [
        ("SPAWNER SETUP", False),  # caught there or just after: its launched process is adopted
        ("CREATING CONTAINER", False),
        ("UPDATING STORE", False),  # its process waits for a READY that the dead spawner never sent
        ("UPDATING STORE", True),  # its process is gone too: started again (or replaced by health)
    ],
    ids=["setup", "creating", "updating", "updating-worker-killed"],
)
def test_a_start_interrupted_by_a_spawner_kill_is_resumed(mongo, client, tenant, actors, stage, also_the_worker):
    pid = spawner_pid()
    sniper = Sniper(tenant, stage, pid, also_the_worker)
    sniper.start()
    try:
        actor = actors("abaco/echo:latest")  # its first worker is requested now
        sniper.join(20)
        assert sniper.left is not None, f"the worker never reached {stage} (nothing was killed)"
        killed = time.monotonic()
        assert sniper.left in STAGES, f"the kill at {sniper.seen} left the worker {sniper.left}, not a start"
        execution = client.send(actor["id"], "after the crash")
        ex = client.wait_execution(actor["id"], execution, timeout=BOUND)
        took = time.monotonic() - killed
        assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0, ex
        assert took < BOUND
        wait_spawner_back(pid)
        (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
        if not also_the_worker:  # else health may have replaced the worker before the spawner was back
            assert worker["id"] == sniper.worker_id
        assert worker["status"] in ("READY", "BUSY")
        assert worker_processes(worker["id"]) == [worker["pid"]], "the worker runs once"
        time.sleep(6)  # a reap pass later: nothing was reaped or replaced
        (still,) = client.ok("GET", f"/actors/{actor['id']}/workers")
        assert still["id"] == worker["id"] and still["pid"] == worker["pid"]
    finally:
        wait_spawner_back(pid)
