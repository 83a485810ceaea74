"""Actor-side helpers: what code inside an Abaco actor container needs, in one stdlib-only module.

Copy it into an image (the test image ``abaco/pyactor`` has it on its path) and::

    from abaco_actor import get_context, send_message, get_state, update_state

    ctx = get_context()                     # the message and the _abaco_* variables
    send_message("ACTOR_ID", {"n": 1})      # as the actor's owner, with _abaco_access_token
    update_state({"seen": ctx.message})     # stateful actors only

Calls go to ``_abaco_api_server`` with the short-lived ``_abaco_access_token`` the platform puts
in the container's environment (actors registered with ``token: true``).
"""

from __future__ import annotations

import ast
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AbacoActorError",
    "Context",
    "get_context",
    "get_binary_message",
    "send_message",
    "get_state",
    "update_state",
    "get_execution",
    "send_bytes_result",
    "send_json_result",
]

BINARY_DATA = "/_abaco_binary_data"
RESULTS_SOCKET = "/_abaco_results.sock"
MAX_RESULT = 131072  # bytes of one result datagram
_NO_BODY = object()  # a call without a body (``None`` is the JSON value null)


class AbacoActorError(Exception):
    """The API refused a call (the message is the API's own), or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _parse_msg(env: dict[str, str], content_type: str) -> Any:
    """``MSG`` as the original delivers it: a Python repr for JSON messages, else the string;
    the exact JSON (``_abaco_MSG_JSON``) wins when the platform sets it."""
    raw = env.get("MSG", "")
    if content_type != "application/json":
        return raw
    exact = env.get("_abaco_MSG_JSON")
    if exact is not None:
        return json.loads(exact)
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return json.loads(raw)


@dataclass(frozen=True)
class Context:
    message: Any
    content_type: str
    actor_id: str
    actor_dbid: str
    execution_id: str
    worker_id: str
    username: str
    api_server: str
    access_token: str
    actor_name: str
    state: Any = None
    raw: dict[str, str] = field(default_factory=dict)


def get_context(environ: dict[str, str] | None = None) -> Context:
    """The message and the ``_abaco_*`` variables (of ``environ``, else this process)."""
    env = dict(os.environ if environ is None else environ)
    content_type = env.get("_abaco_Content_Type", "str")
    state_raw = env.get("_abaco_actor_state", "")
    try:
        state = ast.literal_eval(state_raw) if state_raw else None
    except (ValueError, SyntaxError):
        state = state_raw
    return Context(
        message=_parse_msg(env, content_type),
        content_type=content_type,
        actor_id=env.get("_abaco_actor_id", ""),
        actor_dbid=env.get("_abaco_actor_dbid", ""),
        execution_id=env.get("_abaco_execution_id", ""),
        worker_id=env.get("_abaco_worker_id", ""),
        username=env.get("_abaco_username", ""),
        api_server=env.get("_abaco_api_server", ""),
        access_token=env.get("_abaco_access_token", ""),
        actor_name=env.get("_abaco_actor_name", ""),
        state=state,
        raw=env,
    )


def get_binary_message(path: str = BINARY_DATA) -> bytes:
    """The payload of a binary message (``_abaco_Content_Type`` ``application/octet-stream``):
    the read-only file the platform mounts at /_abaco_binary_data, read to its end (for a large
    payload, open the file yourself and read it in pieces). FileNotFoundError when this
    execution's message is not binary."""
    with open(path, "rb") as payload:
        return payload.read()


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _call(method: str, path: str, body: Any = _NO_BODY, params: dict[str, str] | None = None) -> Any:
    ctx = get_context()
    if not ctx.access_token:
        raise AbacoActorError(401, "no _abaco_access_token: register the actor with token=true")
    url = ctx.api_server.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None
    headers = {"Authorization": f"Bearer {ctx.access_token}"}
    if body is not _NO_BODY:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload = resp.read()
    except urllib.error.HTTPError as exc:
        try:
            message = str(json.loads(exc.read())["message"])
        except (ValueError, TypeError, KeyError):
            message = str(exc.reason)
        raise AbacoActorError(exc.code, message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise AbacoActorError(0, f"cannot reach {ctx.api_server}: {exc}") from None
    return json.loads(payload)["result"]


def send_message(actor_id: str, message: Any, params: dict[str, str] | None = None) -> str:
    """Send ``message`` (a string or any JSON value) to an actor; returns the execution id."""
    body = {"message": message} if isinstance(message, str) else message
    return str(_call("POST", f"/actors/{_q(actor_id)}/messages", body, params)["execution_id"])


def get_state(actor_id: str | None = None) -> Any:
    """The state of this (stateful) actor, or of ``actor_id``."""
    return _call("GET", f"/actors/{_q(actor_id or get_context().actor_id)}/state")["state"]


def update_state(value: Any, actor_id: str | None = None) -> Any:
    """Replace the state of this (stateful) actor, or of ``actor_id``, with any JSON value
    (``None`` included); returns the actor."""
    return _call("POST", f"/actors/{_q(actor_id or get_context().actor_id)}/state", value)


def get_execution(execution_id: str | None = None, actor_id: str | None = None) -> Any:
    """An execution (by default this one) of this actor, or of ``actor_id``."""
    ctx = get_context()
    path = f"/actors/{_q(actor_id or ctx.actor_id)}/executions/{_q(execution_id or ctx.execution_id)}"
    return _call("GET", path)


def send_bytes_result(data: bytes, path: str = RESULTS_SOCKET) -> None:
    """Send one result datagram of at most 131072 bytes, kept in order and read back one per
    GET .../executions/{id}/results (the first one also answers a synchronous call)."""
    if len(data) > MAX_RESULT:
        raise ValueError(f"a result is at most {MAX_RESULT} bytes, not {len(data)}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(data, path)


def send_json_result(value: Any, path: str = RESULTS_SOCKET) -> None:
    """Send any JSON value as one result (UTF-8 JSON text; the original's pickled
    ``send_python_result`` is not offered: the platform never unpickles anything)."""
    send_bytes_result(json.dumps(value).encode(), path)
