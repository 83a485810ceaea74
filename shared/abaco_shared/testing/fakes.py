"""Test doubles: a Docker engine in memory, a kombu delivery, and stores that need no server.

The broker is real kombu on its ``memory://`` transport (with a unique queue prefix per call);
MongoDB is mongomock behind mongoengine's default connection; Redis is fakeredis.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import mongoengine

from ..broker import Broker
from ..containers import ContainerResult, ContainerSpec
from ..errors import DockerError
from .gridfs import enable_mongomock_gridfs

__all__ = [
    "FakeDocker",
    "FakeRun",
    "FakeDelivery",
    "InlineExecutor",
    "memory_broker",
    "fake_redis",
    "use_mongomock",
]


@dataclass
class FakeRun:
    """What the next container run does: exit with ``exit_code`` and print ``logs``, or fail."""

    exit_code: int = 0
    logs: str = ""
    error: str = ""  # raise DockerError with this text instead of running
    timed_out: bool = False
    runtime_ms: int = 5
    oom_killed: bool = False
    during: Callable[[str], None] | None = None  # called with the container id while it "runs"


@dataclass
class FakeDocker:
    """An in-memory :class:`~abaco_shared.containers.DockerApi`.

    ``runs`` is a queue of :class:`FakeRun` (a plain success once empty); every call is recorded
    in ``calls``; containers stay in ``containers`` until removed.
    """

    images: set[str] = field(default_factory=set)
    pull_error: str = ""
    pull_auths: list[dict[str, str] | None] = field(default_factory=list)  # the auth of each pull
    runs: list[FakeRun] = field(default_factory=list)
    driver: tuple[str, int] = ("cgroupfs", 1)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    specs: list[ContainerSpec] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # what logs() answers for a container
    # how wait() ends a container added with add_container (a plain success when not given)
    waits: dict[str, FakeRun] = field(default_factory=dict)
    wait_timeouts: dict[str, float | None] = field(default_factory=dict)  # the timeout of each wait()
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def ping(self) -> bool:
        return True

    def cgroup_info(self) -> tuple[str, int]:
        return self.driver

    def image_present(self, image: str) -> bool:
        self.calls.append(("image_present", image))
        return image in self.images

    def pull(self, image: str, auth: dict[str, str] | None = None) -> None:
        self.calls.append(("pull", image))
        self.pull_auths.append(auth)
        if self.pull_error:
            raise DockerError(f"cannot pull image {image}: {self.pull_error}")
        self.images.add(image)

    def run(
        self,
        spec: ContainerSpec,
        on_started: Callable[[str], None] | None = None,
        max_log_length: int = 1_000_000,
    ) -> ContainerResult:
        self.calls.append(("run", spec.image))
        self.specs.append(spec)
        plan = self.runs.pop(0) if self.runs else FakeRun()
        if plan.error:
            raise DockerError(plan.error)
        cid = f"c{next(self._ids):012d}"
        self.containers[cid] = {"Id": cid, "Labels": dict(spec.labels), "State": "running", "Created": int(time.time())}
        if on_started is not None:
            on_started(cid)
        if plan.during is not None:
            plan.during(cid)
        started = dt.datetime(2026, 1, 1, 12, 0, 0)
        finished = started + dt.timedelta(milliseconds=plan.runtime_ms)
        self.containers[cid]["State"] = "exited"
        state = {"Status": "exited", "ExitCode": plan.exit_code, "OOMKilled": plan.oom_killed, "Running": False}
        logs = plan.logs if len(plan.logs) <= max_log_length else plan.logs[:max_log_length]
        return ContainerResult(cid, plan.exit_code, started, finished, logs, state, plan.timed_out)

    def logs(self, cid: str, max_log_length: int = 1_000_000) -> str:
        if cid not in self.containers:
            raise DockerError(f"cannot read the logs of container {cid}: no such container")
        return self.outputs.get(cid, "")[:max_log_length]

    def stop(self, cid: str, grace: int = 10) -> None:
        self.calls.append(("stop", cid))
        self.stopped.append(cid)

    def remove(self, cid: str) -> None:
        self.calls.append(("remove", cid))
        self.containers.pop(cid, None)

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        key, _, value = label.partition("=")
        return [c for c in self.containers.values() if c["Labels"].get(key) == value]

    def inspect(self, cid: str) -> dict[str, Any] | None:
        self.calls.append(("inspect", cid))
        c = self.containers.get(cid)
        if c is None:
            return None
        plan = self.waits.get(cid) or FakeRun()
        started = dt.datetime.fromtimestamp(c.get("Created", 0), dt.UTC).replace(tzinfo=None)
        running = c["State"] == "running"
        state: dict[str, Any] = {"Status": c["State"], "Running": running, "ExitCode": 0 if running else plan.exit_code}
        if c["State"] != "created":
            state["StartedAt"] = started.isoformat() + "Z"
        return {"Id": cid, "Created": c.get("Created", 0), "State": state, "Config": {"Labels": dict(c["Labels"])}}

    def wait(self, cid: str, timeout: float | None = None, max_log_length: int = 1_000_000) -> ContainerResult:
        self.calls.append(("wait", cid))
        self.wait_timeouts[cid] = timeout
        c = self.containers.get(cid)
        if c is None:
            raise DockerError(f"lost the container {cid} while waiting: no such container")
        plan = self.waits.get(cid) or FakeRun()
        if plan.error:
            raise DockerError(plan.error)
        if plan.during is not None and c["State"] == "running":
            plan.during(cid)
        c["State"] = "exited"
        started = dt.datetime.fromtimestamp(c.get("Created", 0), dt.UTC).replace(tzinfo=None)
        finished = started + dt.timedelta(milliseconds=plan.runtime_ms)
        state = {"Status": "exited", "ExitCode": plan.exit_code, "OOMKilled": plan.oom_killed, "Running": False}
        logs = plan.logs[:max_log_length]
        return ContainerResult(cid, plan.exit_code, started, finished, logs, state, plan.timed_out)

    def add_container(
        self, labels: dict[str, str], state: str = "running", age: float = 0.0, ends: FakeRun | None = None
    ) -> str:
        """Put a container in the engine as if something else had started it (``age`` seconds
        ago; ``state`` "running", "exited" or "created"; ``ends``: what :meth:`wait` returns)."""
        cid = f"c{next(self._ids):012d}"
        created = int(time.time() - age)
        self.containers[cid] = {"Id": cid, "Labels": dict(labels), "State": state, "Created": created}
        if ends is not None:
            self.waits[cid] = ends
        return cid


@dataclass
class FakeDelivery:
    """A kombu message as a consumer callback sees it: ack/requeue/reject are recorded."""

    body: Any = None
    properties: dict[str, Any] = field(default_factory=dict)
    settled: str = ""

    @property
    def acknowledged(self) -> bool:
        return bool(self.settled)

    def ack(self) -> None:
        self.settled = "ack"

    def requeue(self) -> None:
        self.settled = "requeue"

    def reject(self, requeue: bool = False) -> None:
        self.settled = "requeue" if requeue else "reject"


class InlineExecutor(Executor):
    """Runs what is submitted at once, in the caller's thread (for daemons that hand work to a pool)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def memory_broker() -> Broker:
    """A Broker on kombu's in-process transport, with queue names no other test shares."""
    return Broker("memory://", retries=1, prefix=f"t{uuid.uuid4().hex[:8]}_")


def fake_redis() -> Any:
    import fakeredis

    return fakeredis.FakeRedis(decode_responses=True)


@contextmanager
def use_mongomock(db: str | None = None) -> Iterator[None]:
    """mongoengine's default connection on a fresh mongomock database for the duration."""
    import mongomock

    mongoengine.disconnect(alias="default")
    mongoengine.connect(
        db=db or f"test_{uuid.uuid4().hex[:8]}",
        host="mongodb://localhost",
        alias="default",
        mongo_client_class=mongomock.MongoClient,
        tz_aware=False,
        uuidRepresentation="standard",
    )
    enable_mongomock_gridfs()  # binary payloads (abaco_shared.blobs)
    try:
        yield
    finally:
        mongoengine.disconnect(alias="default")
