"""``abaco-admin workers``: every worker with its actor, host, process, container, status and
last heartbeat, as a table or as JSON.

The records come from MongoDB, the heartbeats from Redis (one MGET; a worker writes its beat at
most every 10 s while it waits for messages, and after each execution), the running containers
from this host's Docker engine (one listing of this install's containers; best effort: a worker
on another host, or no engine, shows no container).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from . import workers
from .actors import split_key
from .containers import DockerApi
from .errors import DockerError

__all__ = ["WorkerRow", "collect", "running_containers", "render_table", "render_json"]

COLUMNS = (
    ("TENANT", "tenant"),
    ("ACTOR", "actor_id"),
    ("WORKER", "worker_id"),
    ("STATUS", "status"),
    ("HOST", "host_id"),
    ("PID", "pid"),
    ("CONTAINER", "container"),
    ("HEARTBEAT", "heartbeat"),
)


@dataclass(frozen=True)
class WorkerRow:
    tenant: str
    actor_id: str
    worker_id: str
    status: str
    host_id: str
    pid: int | None
    container: str  # the container of its running execution on this host, or ""
    last_heartbeat: str | None  # ISO 8601 UTC
    heartbeat_age: float | None  # seconds
    last_health_check_time: str | None
    create_time: str | None

    @property
    def heartbeat(self) -> str:
        if self.heartbeat_age is None:
            return "-"
        return f"{self.heartbeat_age:.0f}s ago"


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.replace(tzinfo=dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def running_containers(docker: DockerApi, install_id: str) -> dict[str, str]:
    """``{worker id: short container id}`` of this install's running actor containers on this
    host; empty when the engine cannot be asked."""
    try:
        listed = docker.list_labelled(f"abaco.install={install_id}")
    except DockerError:
        return {}
    found: dict[str, str] = {}
    for container in listed:
        worker_id = (container.get("Labels") or {}).get("abaco.worker")
        if worker_id and container.get("State") == "running":
            found[worker_id] = str(container.get("Id", ""))[:12]
    return found


def _heartbeats(client: redis.Redis | None, prefix: str, worker_ids: Sequence[str]) -> list[float | None]:
    if client is None or not worker_ids:
        return [None] * len(worker_ids)
    values: list[Any] = client.mget([workers.heartbeat_key(prefix, w) for w in worker_ids])
    beats: list[float | None] = []
    for value in values:
        try:
            beats.append(float(value) if value is not None else None)
        except ValueError:
            beats.append(None)
    return beats


def collect(
    client: redis.Redis | None,
    prefix: str,
    containers: dict[str, str],
    tenant: str | None = None,
    now: float | None = None,
) -> list[WorkerRow]:
    """One row per worker record (of ``tenant``, or of every tenant), oldest first."""
    now = time.time() if now is None else now
    records = workers.list_all(tenant)
    beats = _heartbeats(client, prefix, [w.worker_id for w in records])
    rows = []
    for worker, beat in zip(records, beats, strict=True):
        rows.append(
            WorkerRow(
                tenant=worker.tenant,
                actor_id=split_key(worker.actor_dbid)[1],
                worker_id=worker.worker_id,
                status=worker.status,
                host_id=worker.host_id or "",
                pid=worker.pid,
                container=containers.get(worker.worker_id, ""),
                last_heartbeat=None if beat is None else _iso(dt.datetime.fromtimestamp(beat, dt.UTC)),
                heartbeat_age=None if beat is None else max(0.0, now - beat),
                last_health_check_time=_iso(worker.last_health_check_time),
                create_time=_iso(worker.create_time),
            )
        )
    return rows


def render_table(rows: Sequence[WorkerRow]) -> str:
    """Aligned columns with a header line; "-" for what is unknown."""
    cells = [[title for title, _ in COLUMNS]]
    for row in rows:
        values = [getattr(row, attr) for _, attr in COLUMNS]
        cells.append(["-" if v is None or v == "" else str(v) for v in values])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[WorkerRow]) -> str:
    return json.dumps([asdict(row) for row in rows], indent=2) + "\n"
