"""A worker's statuses, seen in order (reference 1.3), from MongoDB's own record of every write to
the workers collection (its profiler, on for the test), so no transition is missed by polling:

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

import pymongo
import pymongo.database
import pytest

from abaco_shared.config import load_config
from abaco_shared.models import Worker

from .conftest import ROOT

START = ["REQUESTED", "SPAWNER SETUP", "CREATING CONTAINER", "UPDATING STORE", "READY"]


class StatusLog:
    """Every status each worker of one actor takes, in the order MongoDB applied them: the
    profiler's entries for the workers collection, the writes that changed a record only."""

    def __init__(self, db: pymongo.database.Database) -> None:
        self.db = db
        self.by_key: dict[str, list[str]] = {}  # worker record key -> its statuses
        self.deleted_keys: set[str] = set()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.actor_dbid = ""
        self.error: Exception | None = None

    def seen(self, worker_id: str) -> list[str]:
        """The statuses so far, without PULLING IMAGE (taken only when the image is missing)."""
        if self.error is not None:
            raise AssertionError(f"reading MongoDB's profiler failed: {self.error!r}")
        return [s for s in self.by_key.get(self._key(worker_id), []) if s != "PULLING IMAGE"]

    def deleted(self, worker_id: str) -> bool:
        return self._key(worker_id) in self.deleted_keys

    def _key(self, worker_id: str) -> str:
        return f"{self.actor_dbid}_{worker_id}"

    def after_start(self, worker_id: str) -> list[str]:
        return self.seen(worker_id)[len(START) :]

    def follow(self) -> None:
        """Read the profiler's new entries for the workers collection every 50 ms, in the order
        they were written (its 32 MB hold every entry of a test: it does not wrap meanwhile)."""
        query = {"ns": f"{self.db.name}.{Worker._get_collection_name()}", "op": {"$in": ["update", "remove"]}}
        read = 0
        self.ready.set()
        try:
            while not self.stop.wait(0.05):
                for entry in self.db["system.profile"].find(query).sort("$natural", 1).skip(read):
                    read += 1
                    self._take(entry)
        except Exception as exc:  # told by seen(), not lost with the thread  # noqa: BLE001
            self.error = exc

    def _take(self, entry: dict) -> None:
        op, cmd = entry.get("op"), entry.get("command") or {}
        if op == "update" and entry.get("nModified", 0) > 0:
            query = cmd.get("q") or {}
            key = str(query.get("_id", ""))
            before = query.get("status")
            before = before.get("$in") if isinstance(before, dict) else [before] if before else []
            if key not in self.by_key and len(before or []) == 1:
                # its first change matched only one status, so the record had that one (an insert's
                # entry does not show its document: REQUESTED is seen this way)
                self._note(key, before[0])
            self._note(key, ((cmd.get("u") or {}).get("$set") or {}).get("status"))
        elif op == "remove" and entry.get("ndeleted", 0) > 0:
            self.deleted_keys.add(str((cmd.get("q") or {}).get("_id", "")))

    def _note(self, key: str, status: str | None) -> None:
        if key and status:
            seen = self.by_key.setdefault(key, [])
            if not seen or seen[-1] != status:
                seen.append(status)


@pytest.fixture
def status_log(tenant) -> Iterator[StatusLog]:
    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)}).mongo
    auth = {"username": cfg.user, "password": cfg.password, "authSource": cfg.auth_source} if cfg.password else {}
    client: pymongo.MongoClient = pymongo.MongoClient(cfg.url, **auth)
    db = client[cfg.db]
    db.command("profile", 0)
    db.drop_collection("system.profile")
    db.create_collection("system.profile", capped=True, size=32 * 1024 * 1024)
    db.command("profile", 2)
    log = StatusLog(db)
    thread = threading.Thread(target=log.follow, daemon=True)
    try:
        thread.start()
        assert log.ready.wait(10)
        yield log
    finally:
        db.command("profile", 0)
        log.stop.set()
        thread.join(timeout=5)
        db.drop_collection("system.profile")
        client.close()


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
        wait_for(lambda: status_log.deleted(wid), f"worker {wid} removed: {status_log.seen(wid)}")

        seen = status_log.seen(wid)
        assert seen[: len(START)] == START, seen
        assert seen[len(START) :] == ["BUSY", "READY", "BUSY", "READY", "SHUTDOWN_REQUESTED", "SHUTTING_DOWN"], seen
    finally:
        client.call("DELETE", f"/actors/{actor['id']}")
