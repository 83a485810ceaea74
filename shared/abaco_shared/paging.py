"""One page of records matching a prepared filter, with the total: the records modules' search
queries share it (they own their collections; this only runs the query they hand it)."""

from __future__ import annotations

from typing import Any

from pymongo.errors import ExecutionTimeout, OperationFailure

from .errors import ValidationError

__all__ = ["find_page", "MAX_TIME_MS"]

MAX_TIME_MS = 5000  # a search (a costly regex, say) never holds the database longer


def find_page(
    model: Any, flt: dict[str, Any], order: tuple[str, ...], limit: int, skip: int, max_time_ms: int = MAX_TIME_MS
) -> tuple[int, list[Any]]:
    """``(total matching, the page)`` of ``model`` documents matching ``flt``, sorted by ``order``
    (mongoengine ``order_by`` names). A filter the database refuses (a regex its engine does not
    accept) or that runs out of time is the caller's mistake: a ValidationError."""
    try:
        total = int(model._get_collection().count_documents(flt, maxTimeMS=max_time_ms))
        if limit <= 0 or skip >= total:
            return total, []
        qs = model.objects(__raw__=flt).order_by(*order).skip(skip).limit(limit).max_time_ms(max_time_ms)
        return total, list(qs)
    except ExecutionTimeout:
        raise ValidationError("The search took too long; narrow it down (fewer or simpler patterns).") from None
    except OperationFailure as exc:
        detail = str((exc.details or {}).get("errmsg") or exc)[:200]
        raise ValidationError(f"Invalid search: the database refused it ({detail}).") from None
