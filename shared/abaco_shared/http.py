"""The HTTP edge shared by the three APIs: JSON envelope, error mapping, auth, body parsing.

Every response, success or error (including the router's 404/405 and uncaught 500s), is
``{"status", "message", "result", "version"}`` JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import bottle
from bottle import HTTPError, HTTPResponse, request, response

from .auth import Authenticator, Principal
from .config import Config
from .errors import AbacoError, PayloadTooLarge, ValidationError

__all__ = ["AbacoApp", "ok", "display_time", "json_body", "principal", "serve"]

log = logging.getLogger(__name__)

_PRINCIPAL_KEY = "abaco.principal"


def display_time(value: dt.datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds, e.g. ``2020-05-01T14:45:41.591Z``."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _default(obj: object) -> object:
    if isinstance(obj, dt.datetime):
        return display_time(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def ok(result: Any, message: str = "The request was successful") -> dict[str, Any]:
    return {"status": "success", "message": message, "result": result}


def principal() -> Principal:
    """The authenticated caller of the current request (set by the app's plugin)."""
    return request.environ[_PRINCIPAL_KEY]  # type: ignore[no-any-return]


def json_body(required: bool = True) -> Any:
    """The request body parsed as JSON, or a ValidationError that says what is wrong with it."""
    raw = request.body.read()
    if not raw.strip():
        if required:
            raise ValidationError("The request body is empty; send a JSON object.")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"The request body is not valid JSON: {exc}.") from None


def form_or_json_object() -> dict[str, Any]:
    """A JSON object body, or form fields, as a dict (reference 1.1: both are accepted)."""
    ctype = (request.content_type or "").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: request.forms.getunicode(k) for k in request.forms.keys()}
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body


class AbacoApp(bottle.Bottle):
    """A Bottle app that speaks the Abaco envelope and authenticates every route by default.

    A route opts out of authentication with ``@app.route(..., auth=False)``.
    """

    def __init__(self, cfg: Config, authenticator: Authenticator, service: str) -> None:
        super().__init__(catchall=True)
        # bottle refuses form bodies over MEMFILE_MAX with its own 413; our limit is the one to apply
        bottle.BaseRequest.MEMFILE_MAX = max(bottle.BaseRequest.MEMFILE_MAX, cfg.http.max_content_length)
        self.config["json.enable"] = False
        self.cfg = cfg
        self.authenticator = authenticator
        self.service = service
        self.install(self._plugin)
        self.route("/<path:path>", method="OPTIONS", callback=self._options, auth=False)

    # -- envelope --------------------------------------------------------------------------------
    def render(self, body: dict[str, Any], status: int = 200) -> str:
        body = {**body, "version": self.cfg.general.version}
        response.status = status
        response.content_type = "application/json"
        return json.dumps(body, default=_default) + "\n"

    def render_error(self, message: str, status: int) -> str:
        return self.render({"status": "error", "message": message, "result": None}, status)

    def default_error_handler(self, res: HTTPError) -> str:
        allowed = {m.strip() for m in (res.headers.get("Allow") or "").split(",") if m.strip()}
        if res.status_code == 405 and allowed - {"OPTIONS"}:
            return self.render_error("Invalid HTTP method on requested resource.", 405)
        if res.status_code in (404, 405):  # a 405 allowing only OPTIONS is the CORS catch-all
            return self.render_error(f"Not found: {request.path}", 404)
        if res.status_code >= 500:
            if res.traceback:
                log.error("unhandled error on %s %s\n%s", request.method, request.path, res.traceback)
            return self.render_error("Unrecognized exception: the server failed to handle the request.", 500)
        return self.render_error(str(res.body or res.status_line), res.status_code)

    # -- plugin: auth, errors, CORS, timing --------------------------------------------------------
    def _plugin(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            route = request.route
            response.set_header("Access-Control-Allow-Origin", "*")
            response.set_header("X-Request-Id", request.get_header("X-Request-Id") or uuid.uuid4().hex)
            try:
                max_len = self.cfg.http.max_content_length
                if request.content_length > max_len:
                    raise PayloadTooLarge(f"The request body exceeds the maximum of {max_len} bytes.")
                if route.config.get("auth", True):
                    request.environ[_PRINCIPAL_KEY] = self.authenticator.identify(request.get_header("Authorization"))
                result = callback(*args, **kwargs)
                if isinstance(result, dict):
                    return self.render(result)
                return result
            except AbacoError as exc:
                if exc.http_status >= 500:
                    log.error("%s %s failed: %s", request.method, request.path, exc, extra=exc.context)
                return self.render_error(exc.message, exc.http_status)
            except HTTPResponse:
                raise
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.path)
                return self.render_error("Unrecognized exception: the server failed to handle the request.", 500)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                log.debug("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed)

        return wrapper

    def _options(self, path: str) -> str:
        response.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
        response.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
        return self.render(ok(None))


def serve(app: bottle.Bottle, host: str, port: int, threads: int) -> None:
    """Serve a WSGI app with waitress until SIGTERM/SIGINT."""
    import waitress

    waitress.serve(app, host=host, port=port, threads=threads, ident="abaco", _quiet=True)
