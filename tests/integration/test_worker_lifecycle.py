"""A worker's statuses, seen in order (reference 1.3), from MongoDB's own change stream of the
workers collection (the stack runs a one-node replica set), so no transition is missed by polling:

REQUESTED -> SPAWNER SETUP -> [PULLING IMAGE] -> CREATING CONTAINER -> UPDATING STORE -> READY,
READY -> BUSY -> READY for each execution, and on a stop SHUTDOWN_REQUESTED -> SHUTTING_DOWN -> gone.
(A message that follows an execution within 20 ms finds the worker still BUSY: the READY between
back-to-back executions is not written, so the second message here waits until the READY is seen.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from abaco_shared.config import load_config
from abaco_shared.models import Worker
from abaco_shared.store import connect_mongo, disconnect_mongo

from .conftest import ROOT

START = ["REQUESTED", "SPAWNER SETUP", "CREATING CONTAINER", "UPDATING STORE", "READY"]


class StatusLog:
    """Every status each worker of one actor takes, in the order MongoDB applied them."""

    def __init__(self) -> None:
        self.by_worker: dict[str, list[str]] = {}
        self.deleted: set[str] = set()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.actor_dbid = ""
        self._ids: dict[str, str] = {}  # document _id -> worker_id

    def seen(self, worker_id: str) -> list[str]:
        """The statuses so far, without PULLING IMAGE (taken only when the image is missing)."""
        return [s for s in self.by_worker.get(worker_id, []) if s != "PULLING IMAGE"]

    def after_start(self, worker_id: str) -> list[str]:
        return self.seen(worker_id)[len(START) :]

    def follow(self) -> None:
        with Worker._get_collection().watch(full_document="updateLookup", max_await_time_ms=200) as stream:
            self.ready.set()
            while not self.stop.is_set():
                change = stream.try_next()
                if change is None:
                    continue
                key = str(change["documentKey"]["_id"])
                if change["operationType"] == "delete":
                    if key in self._ids:
                        self.deleted.add(self._ids[key])
                    continue
                doc = change.get("fullDocument") or {}
                status = (change.get("updateDescription") or {}).get("updatedFields", {}).get("status")
                status = status or (doc.get("status") if change["operationType"] in ("insert", "replace") else None)
                if not doc.get("worker_id") or (self.actor_dbid and doc.get("actor_dbid") != self.actor_dbid):
                    continue
                self._ids[key] = doc["worker_id"]
                seen = self.by_worker.setdefault(doc["worker_id"], [])
                if status and (not seen or seen[-1] != status):
                    seen.append(status)


@pytest.fixture
def status_log() -> Iterator[StatusLog]:
    connect_mongo(load_config(env={**os.environ, "ABACO_HOME": str(ROOT)}).mongo)
    log = StatusLog()
    thread = threading.Thread(target=log.follow, daemon=True)
    thread.start()
    assert log.ready.wait(10)
    try:
        yield log
    finally:
        log.stop.set()
        thread.join(timeout=5)
        disconnect_mongo()


def wait_for(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_workers_statuses_are_seen_in_order_from_request_to_removal(client, status_log, tenant):
    actor = client.register("abaco/echo:latest")
    status_log.actor_dbid = f"{tenant}_{actor['id']}"
    try:
        eid = client.send(actor["id"], "one")
        client.wait_execution(actor["id"], eid)
        (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
        wid = worker["id"]
        wait_for(lambda: status_log.after_start(wid) == ["BUSY", "READY"], "READY after the first run")
        client.wait_execution(actor["id"], client.send(actor["id"], "two"))
        wait_for(lambda: status_log.after_start(wid) == ["BUSY", "READY"] * 2, "READY after the second run")

        assert client.call("DELETE", f"/actors/{actor['id']}/workers/{wid}").status_code == 200
        wait_for(lambda: wid in status_log.deleted, f"worker {wid} removed: {status_log.by_worker.get(wid)}")

        seen = status_log.seen(wid)
        assert seen[: len(START)] == START, seen
        assert seen[len(START) :] == ["BUSY", "READY", "BUSY", "READY", "SHUTDOWN_REQUESTED", "SHUTTING_DOWN"], seen
    finally:
        client.call("DELETE", f"/actors/{actor['id']}")
