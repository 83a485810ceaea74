"""The OpenAPI 3.0 document of the three APIs (reference 1.2), built from declarative specs.

Every endpoint is one :class:`Op` in :data:`OPERATIONS` (method, path, app, permission, query
parameters, request body and result schema by name); :func:`build_document` turns them into the
document, wrapping each result in the ``{status, message, result, version}`` envelope and adding
the error envelope for each error status an operation can answer. The document is the contract:
it describes the reference's endpoints whether or not a route serves them yet, and a unit test
checks that every route of every app is described here.
"""

from __future__ import annotations

import re
from typing import Any

from .operations import DESCRIPTION, OPERATIONS, SECURITY_SCHEMES, Op
from .schemas import (
    _JSON,
    BODIES,
    COMMON_ERRORS,
    ERROR_MESSAGES,
    INT,
    PATH_PARAMS,
    PATH_SCHEMAS,
    QUERY,
    QUERY_DOC,
    SCHEMAS,
    STR,
    Schema,
    _obj,
    _ref,
)

__all__ = ["Op", "OPERATIONS", "SCHEMAS", "build_document", "described_operations", "ERROR_MESSAGES"]

# --- building -------------------------------------------------------------------------------------


def _result_schema(name: str | None) -> Schema:
    if name is None:
        return {"nullable": True}
    if name.startswith("["):
        return {"type": "array", "items": _ref(name.strip("[]"))}
    return _ref(name)


def _envelope(result: Schema) -> Schema:
    return _obj(
        ("status", "message", "result", "version"),
        status={"type": "string", "enum": ["success"]},
        message=STR,
        result=result,
        version=STR,
    )


def _success(op: Op) -> dict[str, Any]:
    result = _result_schema(op.result)
    if "search" in op.query and op.result != "SearchResult":  # other parameters switch to a search
        result = {"oneOf": [result, _ref("SearchResult")]}
    envelope = {_JSON: {"schema": _envelope(result)}}
    if op.produces == "octet":
        return {
            "description": "The result's raw bytes (empty if none).",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    if op.produces == "html":
        return {"description": "An HTML page.", "content": {"text/html": {"schema": STR}}}
    if op.produces == "openapi":
        return {"description": "The OpenAPI document.", "content": {_JSON: {"schema": {"type": "object"}}}}
    if op.produces == "logs":
        return {
            "description": "The envelope; with `_abaco_synchronous=true`, the raw body: the execution's first "
            "result (header `X-Abaco-Answer: result`) or, when it ends without one, its logs (`logs`).",
            "content": {**envelope, "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    if op.produces == "results":
        return {
            "description": "The popped result's raw bytes (empty if none); with `all=true`, the envelope.",
            "headers": {"X-Total-Count": {"description": "With `all=true`: how many results in all.", "schema": INT}},
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}, **envelope},
        }
    if op.produces == "text":
        return {
            "description": "The envelope; with `follow=true`, the text as a text/plain stream.",
            "content": {**envelope, "text/plain": {"schema": STR}},
        }
    if op.produces == "prometheus":
        return {"description": "Prometheus text format 0.0.4.", "content": {"text/plain": {"schema": STR}}}
    if op.result and op.result.startswith("[") and "limit" in op.query:
        total = {"description": "How many items there are in all.", "schema": INT}
        return {"description": "Success: one page.", "headers": {"X-Total-Count": total}, "content": envelope}
    return {"description": "Success.", "content": envelope}


def _operation(op: Op) -> dict[str, Any]:
    params: list[Schema] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMS[name],
            "schema": PATH_SCHEMAS.get(name, {"type": "string", "minLength": 1}),
        }
        for name in op.path_params
    ]
    params += [
        {"name": name, "in": "query", "required": False, "description": QUERY_DOC[name], "schema": QUERY[name]}
        for name in op.query
    ]
    errors = sorted(set(op.extra_errors) | (set(COMMON_ERRORS) if op.auth else {404, 405}))
    if op.body:
        errors = sorted(set(errors) | {413})
    responses: dict[str, Any] = {"200": _success(op)}
    for code in errors:
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": f"Served by the {op.app} API. Permission: {op.permission}.",
        "tags": [op.tag],
        "responses": responses,
    }
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = BODIES[op.body]
    if not op.auth:
        out["security"] = []
    return out


def build_document(version: str = "1.0.0", operations: tuple[Op, ...] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Abaco", "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in operations)],
        "security": [{name: []} for name in SECURITY_SCHEMES],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": SECURITY_SCHEMES,
            "responses": {
                f"E{code}": {"description": text, "content": {_JSON: {"schema": _ref("Error")}}}
                for code, text in ERROR_MESSAGES.items()
            },
        },
    }


def described_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every operation of a document, with each ``{param}`` written ``{}``."""
    return {
        (method.upper(), re.sub(r"{[^}]+}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }
