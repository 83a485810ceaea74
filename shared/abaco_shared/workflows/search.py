"""Searching and paging records (reference 1.6): actors, workers, executions and logs.

``search`` answers ``GET /actors/search/{type}`` and the list endpoints in search mode;
``list_page`` answers a list endpoint in list mode (only ``limit``/``skip``). Both:

1. parse the parameters into a filter (``abaco_shared.search``: allow-listed fields, typed values,
   always ANDed with the caller's tenant and, for non-admins, the actors the caller may READ);
2. run it through the records module of the type (total + one page, newest first, time-limited);
3. render each record with ``views`` (internal fields never shown).

Failures: a bad parameter is a ValidationError (400) naming it, before any query; an unknown type
is NotFound; a query the database refuses or that runs out of time is a ValidationError. Nothing
is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import actors, executions, logs, search, workers
from ..actors import split_key
from ..auth import Principal
from ..models import Actor, Execution, Log
from ..views import actor_view, execution_view, log_view, worker_view

__all__ = ["search_records", "list_page", "Rendered"]

Rendered = tuple[int, list[dict[str, Any]]]

_QUERIES: dict[str, Callable[..., tuple[int, list[Any]]]] = {
    "actors": actors.search,
    "workers": workers.search,
    "executions": executions.search,
    "logs": logs.search,
}


def _owners(records: Iterable[Execution | Log]) -> Callable[[str], Actor]:
    """The actor of each record (a placeholder for records whose actor was deleted)."""
    found = actors.get_many(r.actor_dbid for r in records)

    def actor_of(actor_dbid: str) -> Actor:
        return found.get(actor_dbid) or Actor(db_id=actor_dbid, actor_id=split_key(actor_dbid)[1], owner="")

    return actor_of


def _render(type_name: str, records: list[Any], api: str) -> list[dict[str, Any]]:
    if type_name == "actors":
        return [actor_view(a, api) for a in records]
    if type_name == "workers":
        return [worker_view(w) for w in records]
    actor_of = _owners(records)
    if type_name == "executions":
        return [execution_view(e, actor_of(e.actor_dbid), api) for e in records]
    return [log_view(r, actor_of(r.actor_dbid), api) for r in records]


def _run(query: search.SearchQuery, api: str) -> Rendered:
    total, records = _QUERIES[query.type.name](query.filter, query.type.order, query.limit, query.skip)
    return total, _render(query.type.name, records, api)


def search_records(
    who: Principal, type_name: str, params: Iterable[tuple[str, str]], api: str, scope: dict[str, str] | None = None
) -> dict[str, Any]:
    """``{_metadata: {total_count, records_skipped, record_limit, count_returned}, search: [...]}``
    for these parameters; ``scope`` (stored field -> value) narrows the search, e.g. to one actor."""
    query = search.parse(search.search_type(type_name), params, who, scope=scope)
    total, rendered = _run(query, api)
    return {
        "_metadata": {
            "total_count": total,
            "records_skipped": query.skip,
            "record_limit": query.limit,
            "count_returned": len(rendered),
        },
        "search": rendered,
    }


def list_page(
    who: Principal, type_name: str, limit: int, skip: int, api: str, scope: dict[str, str] | None = None
) -> Rendered:
    """``(total available, one page)`` of a list endpoint: the records the caller may see,
    newest first (ties broken by key, so pages are stable)."""
    params = [("limit", str(limit)), ("skip", str(skip))]
    return _run(search.parse(search.search_type(type_name), params, who, scope=scope), api)
