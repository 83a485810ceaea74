"""Routes of /docs: the OpenAPI document and a self-contained HTML page listing its operations.

Both are public (``auth=False``). The page fetches nothing: no scripts, no styles from elsewhere.
"""

from __future__ import annotations

import html
import json
from typing import Any

from abaco_shared.http import AbacoApp, raw
from abaco_shared.openapi import build_document

from .deps import RegistrationDeps

__all__ = ["install", "render_page"]

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:1.5em}
.op{margin:.6em 0;padding:.4em .6em;border-left:4px solid #888;background:#f7f7f7}
.m{display:inline-block;min-width:4.5em;font-weight:bold;font-family:monospace}
.GET{border-color:#2a7}.POST{border-color:#27c}.PUT{border-color:#c82}.DELETE{border-color:#c33}
code{font-size:95%}.d{color:#555;font-size:90%;margin:.2em 0 0 5.2em}"""


def _op_html(method: str, path: str, op: dict[str, Any]) -> str:
    params = ", ".join(
        f"<code>{html.escape(p['name'])}</code> ({html.escape(p['in'])})" for p in op.get("parameters", [])
    )
    body = op.get("requestBody", {}).get("content", {})
    lines = [html.escape(op.get("description", ""))]
    if params:
        lines.append("Parameters: " + params)
    if body:
        lines.append("Body: " + ", ".join(f"<code>{html.escape(c)}</code>" for c in body))
    lines.append("Responses: " + ", ".join(html.escape(code) for code in op["responses"]))
    details = "".join(f'<div class="d">{line}</div>' for line in lines)
    return (
        f'<div class="op {html.escape(method.upper())}" id="{html.escape(op["operationId"])}">'
        f'<span class="m">{html.escape(method.upper())}</span> <code>{html.escape(path)}</code> '
        f"&mdash; {html.escape(op.get('summary', ''))}{details}</div>"
    )


def render_page(document: dict[str, Any]) -> str:
    """The operations of ``document`` grouped by tag, as one HTML page with no outside resources."""
    groups: dict[str, list[str]] = {tag["name"]: [] for tag in document.get("tags", [])}
    for path, item in document["paths"].items():
        for method, op in item.items():
            groups.setdefault(op.get("tags", ["other"])[0], []).append(_op_html(method, path, op))
    info = document["info"]
    sections = "".join(f"<h2>{html.escape(tag)}</h2>{''.join(ops)}" for tag, ops in groups.items() if ops)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(info['title'])} API {html.escape(info['version'])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(info['title'])} API <small>{html.escape(info['version'])}</small></h1>"
        f"<p>{html.escape(info.get('description', ''))}</p>"
        '<p>The machine-readable document: <a href="/docs/openapi.json">/docs/openapi.json</a> (OpenAPI '
        f"{html.escape(document['openapi'])}).</p>{sections}</body></html>\n"
    )


def install(app: AbacoApp, deps: RegistrationDeps) -> None:
    document = build_document(deps.cfg.general.version)
    document_json = (json.dumps(document, indent=1) + "\n").encode()
    page = render_page(document).encode()

    @app.get("/docs/openapi.json", auth=False)
    def openapi_json() -> bytes:
        return raw(document_json, "application/json")

    @app.get("/docs", auth=False)
    def docs_page() -> bytes:
        return raw(page, "text/html; charset=utf-8")
