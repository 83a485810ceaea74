"""List endpoints over HTTP: list mode (``limit``/``skip``, the total in ``X-Total-Count``) or,
given any other query parameter, search mode (reference 1.2 and 1.6)."""

from __future__ import annotations

from typing import Any

from bottle import response

from .http import ok, page_params, principal, query_items
from .search import is_search
from .workflows.search import list_page, search_records

__all__ = ["list_or_search", "search_if_asked", "TOTAL_HEADER"]

TOTAL_HEADER = "X-Total-Count"


def list_or_search(type_name: str, api: str, scope: dict[str, str] | None = None) -> dict[str, Any]:
    """The caller's records of ``type_name`` (within ``scope``, stored field -> value): a list,
    newest first, with the total available in ``X-Total-Count``; or, when the query holds other
    parameters than ``limit``, ``skip`` and ``x-nonce``, a search answer."""
    found = search_if_asked(type_name, api, scope or {})
    if found is not None:
        return found
    given = dict(query_items())  # the last of a repeated parameter
    limit, skip = page_params(given.get("limit"), given.get("skip"))
    total, page = list_page(principal(), type_name, limit, skip, api, scope)
    response.set_header(TOTAL_HEADER, str(total))
    return ok(page)


def search_if_asked(type_name: str, api: str, scope: dict[str, str]) -> dict[str, Any] | None:
    """A search answer (within ``scope``) when the query holds other parameters than ``limit``,
    ``skip`` and ``x-nonce``; None for the endpoint's own answer."""
    params = query_items()
    if not is_search(params):
        return None
    return ok(search_records(principal(), type_name, params, api, scope), "Search completed successfully.")
