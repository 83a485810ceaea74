"""Routes of /actors/search/{type}: search actors, workers, executions or logs (reference 1.6).

Installed before the actor routes, so ``search`` is never taken for an actor id.
"""

from __future__ import annotations

from typing import Any

from abaco_shared.errors import NotFound
from abaco_shared.http import AbacoApp, ok, principal, query_items
from abaco_shared.search import TYPES
from abaco_shared.workflows.search import search_records

from .deps import RegistrationDeps

__all__ = ["install"]


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    api = deps.api

    # not an operation (no type given), but never an actor id or alias named "search"
    @app.get("/actors/search", undocumented=True)
    @app.get("/actors/search/", undocumented=True)
    def search_types() -> dict[str, Any]:
        raise NotFound(f"Search a type: /actors/search/{{{'|'.join(TYPES)}}}.")

    @app.get("/actors/search/<search_type>")
    def search(search_type: str) -> dict[str, Any]:
        return ok(search_records(principal(), search_type, query_items(), api), "Search completed successfully.")
