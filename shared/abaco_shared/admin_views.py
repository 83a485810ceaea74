"""How the tenant-wide views render: ``/actors/utilization`` and the admins' ``/actors/admin*``
(reference 1.2). The numbers come from the records modules; this module only shapes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .actors import split_key
from .enums import WorkerStatus
from .executions import Totals
from .models import Actor, Worker
from .views import actor_view, worker_view

__all__ = ["utilization_view", "admin_actors_view", "admin_workers_view", "admin_executions_view"]


def utilization_view(current_actors: int, total_actors: int, workers: int, command_queue: int) -> dict[str, Any]:
    """The original's keys, camelCase in both case modes."""
    return {
        "currentActors": current_actors,
        "totalActors": total_actors,
        "workers": workers,
        "commandQueue": command_queue,
    }


def admin_actors_view(
    actors: list[Actor],
    workers: list[Worker],
    totals: Mapping[str, Totals],
    mailbox_lengths: Mapping[str, int],
    api_server: str,
) -> list[dict[str, Any]]:
    """Every actor with its workers, its mailbox length (``messages``), its ``executions`` count
    and their total ``runtime`` (ms)."""
    by_actor: dict[str, list[Worker]] = {}
    for w in workers:
        by_actor.setdefault(w.actor_dbid, []).append(w)
    return [
        {
            **actor_view(a, api_server),
            "workers": [worker_view(w) for w in by_actor.get(a.db_id, [])],
            "messages": mailbox_lengths.get(a.db_id, 0),
            "executions": totals.get(a.db_id, Totals()).count,
            "runtime": totals.get(a.db_id, Totals()).runtime,
        }
        for a in actors
    ]


def admin_workers_view(workers: list[Worker], actors: list[Actor]) -> dict[str, Any]:
    statuses = [w.status for w in workers]
    with_workers = {w.actor_dbid for w in workers}
    return {
        "summary": {
            "total_workers": len(workers),
            "ready_workers": statuses.count(WorkerStatus.READY.value),
            "requested_workers": statuses.count(WorkerStatus.REQUESTED.value),
            "error_workers": statuses.count(WorkerStatus.ERROR.value),
            "busy_workers": statuses.count(WorkerStatus.BUSY.value),
            "actors_no_workers": sum(1 for a in actors if a.db_id not in with_workers),
        },
        "workers": [worker_view(w) for w in workers],
    }


def _sum(items: list[Totals]) -> Totals:
    return Totals(
        count=sum(t.count for t in items),
        cpu=sum(t.cpu for t in items),
        io=sum(t.io for t in items),
        runtime=sum(t.runtime for t in items),
    )


def _totals(t: Totals) -> dict[str, int]:
    return {
        "total_executions": t.count,
        "total_cpu": t.cpu,
        "total_io": t.io,
        "total_runtime": t.runtime,
    }


def admin_executions_view(actors: list[Actor], totals: Mapping[str, Totals]) -> dict[str, Any]:
    """Execution totals of the tenant: ``all`` (actors deleted since included) and ``existing``
    actors, and one line per actor that has executions (``exists`` false once it was deleted)."""
    existing = {a.db_id: a for a in actors}
    keys = sorted(set(totals) | set(existing))
    return {
        "summary": {
            "all": {"total_actors": len(keys), **_totals(_sum(list(totals.values())))},
            "existing": {
                "total_actors": len(existing),
                **_totals(_sum([totals[k] for k in existing if k in totals])),
            },
        },
        "actors": [
            {
                "id": split_key(key)[1],
                "owner": existing[key].owner if key in existing else None,
                "exists": key in existing,
                **_totals(totals.get(key, Totals())),
            }
            for key in keys
        ],
    }
