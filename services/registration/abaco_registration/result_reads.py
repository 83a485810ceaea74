"""GET /actors/{id}/executions/{eid}/results: pop the next result, or list them all.

Without parameters (the original's contract) one call pops the execution's oldest unconsumed
result and answers with its raw bytes (``application/octet-stream``; an empty body when there is
none). With ``?all=true`` it answers a JSON page of every result, in order, consumed or not,
without consuming any: ``{execution_id, total, results: [{index, size, consumed, data}]}`` with
``data`` in base64, paged with ``limit`` (default 100) and ``skip``; the total is also in
``X-Total-Count``.
"""

from __future__ import annotations

import base64
from typing import Any

from bottle import request, response

from abaco_shared import results
from abaco_shared.http import ok, page_params, query_flag, raw
from abaco_shared.listing import TOTAL_HEADER
from abaco_shared.models import Actor, Execution
from abaco_shared.views import links

__all__ = ["read_results", "result_view"]


def result_view(record: results.Result) -> dict[str, Any]:
    return {
        "index": record.seq,
        "size": record.size,
        "consumed": record.consumed,
        "data": base64.b64encode(bytes(record.data)).decode("ascii"),
    }


def read_results(actor: Actor, ex: Execution, api_server: str) -> dict[str, Any] | bytes:
    """The answer of GET .../results for a caller allowed to READ the execution."""
    if not query_flag("all"):
        return raw(results.pop_next(ex.db_id) or b"", X_Abaco_Execution_Id=ex.execution_id)
    limit, skip = page_params(request.query.get("limit"), request.query.get("skip"))
    total, page = results.page(ex.db_id, limit, skip)
    response.set_header(TOTAL_HEADER, str(total))
    base = f"{actor.actor_id}/executions/{ex.execution_id}"
    return ok(
        {
            "execution_id": ex.execution_id,
            "total": total,
            "results": [result_view(r) for r in page],
            "_links": links(api_server, actor.owner, self=f"{base}/results", execution=base),
        },
        "Results retrieved successfully.",
    )
