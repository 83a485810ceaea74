"""The HTTP edge shared by the three APIs: JSON envelope, error mapping, auth, body parsing.

Every response, success or error (including the router's 404/405 and uncaught 500s), is
``{"status", "message", "result", "version"}`` JSON. Each concern is one small bottle plugin;
from the outside in:

    RequestPlugin    request id, CORS header, timing log
    EnvelopePlugin   a returned dict becomes the JSON envelope; AbacoError its error envelope
    BodyLimitPlugin  413 before the body is read (route option ``max_body`` overrides the default)
    AuthPlugin       the caller's Principal (route option ``auth=False`` opts out)
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import bottle
from bottle import FormsDict, HTTPError, HTTPResponse, request, response
from bson.dbref import DBRef

from . import nonces, outages, versionwatch
from .auth import Authenticator, Principal
from .errors import AbacoError, PayloadTooLarge, ValidationError
from .ids import random_hex
from .models import plain

__all__ = [
    "AbacoApp",
    "ok",
    "raw",
    "display_time",
    "json_body",
    "form_fields",
    "form_or_json_object",
    "principal",
    "query_flag",
    "camel_keys",
    "requested_case",
    "snake_keys",
    "query_items",
    "page_params",
    "canonical_path",
    "parse_json",
    "request_id",
    "raw_headers",
]

log = logging.getLogger(__name__)

_PRINCIPAL_KEY = "abaco.principal"
ARRIVED_KEY = "abaco.arrived"  # when waitress read a request's first bytes (time.monotonic)
_SLASHES = re.compile(r"//+")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
GENERIC_500 = "Unrecognized exception: the server failed to handle the request."
Callback = Callable[..., Any]


def display_time(value: dt.datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds, e.g. ``2020-05-01T14:45:41.591Z``."""
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _default(obj: object) -> object:
    if isinstance(obj, dt.datetime):
        return display_time(obj)
    if isinstance(obj, DBRef):  # a raw record's message holding "$ref" and "$id" (models.plain)
        return plain(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


_CAMEL_KEY = re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+")
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def _camel(key: str) -> str:
    if key.startswith("_") or "_" not in key:
        return key
    first, *rest = key.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


CASE_HEADER = "HTTP_X_ABACO_CASE"


def requested_case(environ: dict[str, Any], default: str) -> str:
    """The key case of this answer: the configured ``http.case``, unless the request asks for
    ``snake`` or ``camel`` with an ``X-Abaco-Case`` header (one install can serve clients of both
    kinds, and the integration tests run the same flows in both modes)."""
    asked = str(environ.get(CASE_HEADER, "")).strip().lower()
    return asked if asked in ("snake", "camel") else default


def camel_keys(result: Any) -> Any:
    """camel mode (reference 1.1): the top-level keys of the result object, or of each object of
    a result list, in camelCase (``execution_id`` -> ``executionId``); ``_links`` and the like,
    and nested objects, are left as they are."""
    if isinstance(result, dict):
        return {_camel(k) if isinstance(k, str) else k: v for k, v in result.items()}
    if isinstance(result, list):
        return [camel_keys(item) if isinstance(item, dict) else item for item in result]
    return result


def snake_keys(body: dict[str, Any]) -> dict[str, Any]:
    """Request fields in camelCase (``maxWorkers``) under their snake_case names (both modes
    accept both); keys that are not camelCase words are left as they are."""
    return {_UPPER.sub("_", k).lower() if _CAMEL_KEY.fullmatch(k) else k: v for k, v in body.items()}


def ok(result: Any, message: str = "The request was successful") -> dict[str, Any]:
    return {"status": "success", "message": message, "result": result}


def raw(body: bytes, content_type: str = "application/octet-stream", **headers: str) -> bytes:
    """A non-envelope answer (e.g. a synchronous execution's output)."""
    response.content_type = content_type
    for name, value in headers.items():
        response.set_header(name.replace("_", "-"), value)
    return body


def principal() -> Principal:
    """The authenticated caller of the current request (set by the AuthPlugin)."""
    return request.environ[_PRINCIPAL_KEY]


MAX_SKIP = 2**31 - 1


def page_params(limit: str | None, skip: str | None, default_limit: int = 100) -> tuple[int, int]:
    """``limit`` (default 100, at most 1000) and ``skip`` query parameters of a list endpoint."""
    try:
        lim = int(limit) if limit is not None else default_limit
        skp = int(skip) if skip is not None else 0
    except ValueError:
        raise ValidationError("Invalid limit or skip: expected non-negative integers.") from None
    if lim < 0 or skp < 0 or lim > 1000 or skp > MAX_SKIP:
        raise ValidationError(f"Invalid limit or skip: limit must be 0-1000 and skip 0-{MAX_SKIP}.")
    return lim, skp


_TRUE, _FALSE = ("true", "1", "yes", "on", "y"), ("false", "0", "no", "off", "n", "")


def query_flag(name: str) -> bool:
    """A yes/no query parameter (absent or empty: no); a 400 for a value that is neither."""
    value = (request.query.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError(f"Invalid {name}: {value[:40]!r}; use true or false.")


def query_items() -> list[tuple[str, str]]:
    """Every query parameter as ``(name, value)`` in order, repeats included, decoded as UTF-8
    (a ValidationError, not a 500, for bytes that are not UTF-8)."""
    items = []
    for name, value in request.query.allitems():
        try:
            items.append((name.encode("latin-1").decode(), value.encode("latin-1").decode()))
        except UnicodeError:
            raise ValidationError("A query parameter is not valid UTF-8.") from None
    return items


def json_body(required: bool = True) -> Any:
    """The request body parsed as JSON, or a ValidationError that says what is wrong with it."""
    raw_body = request.body.read()
    if not raw_body.strip():
        if required:
            raise ValidationError("The request body is empty; send a JSON object.")
        return None
    return parse_json(raw_body, "The request body")


MAX_JSON_DEPTH = 64  # MongoDB refuses documents nested deeper than 100 levels


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what BSON (and so MongoDB) can keep


_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's \ud800 escapes: not Unicode text, and not UTF-8


def _unstorable(value: Any, limit: int) -> str:
    """Why a parsed JSON value cannot be stored or sent back ("" when it can): nested deeper
    than ``limit``, an integer outside 64 bits, a number that is not finite (Python's parser
    takes NaN, Infinity and 1e999), text with a lone surrogate, or an object key with a NUL
    character (BSON's keys end at one)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "has text that is not valid Unicode (a lone surrogate such as \\ud800)"
        elif isinstance(item, dict | list):
            if level > limit:
                return f"is nested too deeply (at most {limit} levels)"
            if isinstance(item, dict):
                if any("\x00" in key for key in item):
                    return "has an object key with a NUL character"
                stack.extend((key, level) for key in item)
                stack.extend((child, level + 1) for child in item.values())
            else:
                stack.extend((child, level + 1) for child in item)
        elif type(item) is int and not INT64_MIN <= item <= INT64_MAX:
            return "has an integer that does not fit in 64 bits (-2**63 to 2**63-1)"
        elif type(item) is float and not math.isfinite(item):
            return "has a number that is not finite (NaN or Infinity)"
    return ""


def parse_json(raw: bytes | str, what: str, invalid: str = "is not valid JSON") -> Any:
    """JSON text parsed, or a ValidationError saying what is wrong with ``what`` (never a 500:
    not for deep nesting, which would exhaust the parser's recursion, nor for invalid UTF-8, nor
    for a value MongoDB cannot keep: an integer over 64 bits, a key with a NUL)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels).") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{what} {invalid}: {exc}.") from None
    if problem := _unstorable(value, MAX_JSON_DEPTH):
        raise ValidationError(f"{what} {problem}.")
    return value


def form_fields(max_length: int) -> FormsDict:
    """The request's form fields, parsed with a body limit of ``max_length`` bytes.

    bottle reads forms up to its class-wide ``MEMFILE_MAX``; a request class of our own with that
    limit, over the same environ, parses them (the parse is cached in the environ) without
    changing bottle's class-wide state.
    """
    return _sized_request(max(max_length, bottle.BaseRequest.MEMFILE_MAX))(request.environ).forms


@functools.cache
def _sized_request(limit: int) -> type[bottle.BaseRequest]:
    return type(f"Request{limit}", (bottle.BaseRequest,), {"MEMFILE_MAX": limit})


def is_form() -> bool:
    ctype = (request.content_type or "").split(";")[0].strip().lower()
    return ctype in ("application/x-www-form-urlencoded", "multipart/form-data")


def form_or_json_object(max_length: int = 1_000_000) -> dict[str, Any]:
    """A JSON object body, or form fields, as a dict (reference 1.1: both are accepted), with
    camelCase field names under their snake_case names (:func:`snake_keys`)."""
    if is_form():
        forms = form_fields(max_length)
        fields = {}
        for name in forms.keys():
            value = forms.getunicode(name)  # None: not UTF-8
            if value is None:
                raise ValidationError(f"The form field {name!r} is not valid UTF-8 text.")
            fields[name] = value
        return snake_keys(fields)
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return snake_keys(body)


def raw_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers as the server received them (latin-1 text, never decoded as UTF-8:
    bottle's own header view raises on a value that is not UTF-8)."""
    headers = {k[5:].replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-")] = environ[key]
    return headers


def request_id(given: str | None) -> str:
    """The client's request id when it is a plain token (letters, digits, ``.-_``, at most 128),
    else a new one: a header value is echoed back, so it must be safe to send."""
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return random_hex(16)


class RequestPlugin:
    """Outermost: a request id (the client's or a new one), CORS, and one debug line of timing."""

    name = "abaco.request"
    api = 2

    def apply(self, callback: Callback, route: bottle.Route) -> Callback:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            response.set_header("Access-Control-Allow-Origin", "*")
            response.set_header("X-Request-Id", request_id(request.environ.get("HTTP_X_REQUEST_ID")))
            try:
                # lookups of cached versions share drains of Redis's change notices (versionwatch)
                with versionwatch.serving(request.environ.get(ARRIVED_KEY) or time.monotonic()):
                    return callback(*args, **kwargs)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                log.debug("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed)

        return wrapper


class EnvelopePlugin:
    """Renders a returned dict as the JSON envelope, and every error as the error envelope."""

    name = "abaco.envelope"
    api = 2

    def __init__(self, version: str, case: str = "snake") -> None:
        self.version = version
        self.case = case

    def render(self, body: dict[str, Any], status: int = 200) -> str:
        response.status = status
        response.content_type = "application/json"
        return json.dumps({**body, "version": self.version}, default=_default) + "\n"

    def render_error(self, message: str, status: int) -> str:
        return self.render({"status": "error", "message": message, "result": None}, status)

    def render_failure(self, exc: AbacoError, cause: BaseException | None = None) -> str:
        """An AbacoError in the error envelope. A 503 says when to try again (``Retry-After``),
        and a store outage names the store (the driver's own words, or ``cause``, are logged)."""
        if exc.http_status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, cause or exc, extra=exc.context)
        if exc.http_status == 503:
            response.set_header("Retry-After", str(outages.RETRY_AFTER))
            exc = outages.unavailable(exc) or exc
        return self.render_error(exc.message, exc.http_status)

    def apply(self, callback: Callback, route: bottle.Route) -> Callback:
        # camel mode; a route whose result keys are data, not field names, says camel=False (the
        # permissions maps {user: level} of every .../permissions route do by default)
        convertible = route.config.get("camel", not route.rule.endswith("/permissions"))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                result = callback(*args, **kwargs)
            except AbacoError as exc:
                return self.render_failure(exc)
            except HTTPResponse:
                raise
            except Exception as exc:
                outage = outages.unavailable(exc)  # MongoDB, Redis or RabbitMQ down: a 503, not a 500
                if outage is not None:
                    return self.render_failure(outage, cause=exc)
                log.exception("unhandled error on %s %s", request.method, request.path)
                return self.render_error(GENERIC_500, 500)
            camel = convertible and requested_case(request.environ, self.case) == "camel"
            if camel and isinstance(result, dict) and "result" in result:
                result = {**result, "result": camel_keys(result["result"])}
            return self.render(result) if isinstance(result, dict) else result

        return wrapper


class BodyLimitPlugin:
    """Refuses a declared body over the route's ``max_body`` (else ``default``) before reading it."""

    name = "abaco.body_limit"
    api = 2

    def __init__(self, default: int) -> None:
        self.default = default

    def apply(self, callback: Callback, route: bottle.Route) -> Callback:
        limit = int(route.config.get("max_body", self.default))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if request.content_length > limit:
                raise PayloadTooLarge(f"The request body exceeds the maximum of {limit} bytes.")
            return callback(*args, **kwargs)

        return wrapper


class AuthPlugin:
    """Identifies the caller from the request's headers (``Authenticator.identify_request``:
    ``Authorization``, ``X-Tapis-Token`` or ``X-Jwt-Assertion-<tenant>``; without any of them,
    ``?x-nonce=<id>``: ``nonces.authorize``) unless the route says ``auth=False``."""

    name = "abaco.auth"
    api = 2

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def apply(self, callback: Callback, route: bottle.Route) -> Callback:
        if not route.config.get("auth", True):
            return callback

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            headers = raw_headers(request.environ)
            nonce_id = request.query.get("x-nonce")
            if nonce_id and not self.authenticator.has_credential(headers):  # reference 4: nonces
                who = nonces.authorize(nonce_id, request.method, request.path)
            else:
                who = self.authenticator.identify_request(headers)
            request.environ[_PRINCIPAL_KEY] = who
            return callback(*args, **kwargs)

        return wrapper


def canonical_path(path: str) -> str:
    """The path the routes know: repeated slashes collapsed, and the v2 gateway prefix
    (``/actors/v2/...``) and the v3 one (``/v3/actors/...``) mapped onto ``/actors/...``."""
    path = _SLASHES.sub("/", path) or "/"
    for prefix in ("/actors/v2", "/v3/actors"):
        if path == prefix or path.startswith(prefix + "/"):
            return "/actors" + path[len(prefix) :]
    return path


class AbacoApp(bottle.Bottle):
    """A Bottle app that speaks the Abaco envelope and authenticates every route by default.

    Every path is first made canonical (:func:`canonical_path`), so each route answers under
    ``/actors``, ``/actors/v2`` and ``/v3/actors`` alike.
    """

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "/")
        canonical = canonical_path(path)
        if canonical != path:
            environ = {**environ, "PATH_INFO": canonical}
        return super().__call__(environ, start_response)

    def __init__(self, version: str, authenticator: Authenticator, max_body: int, case: str = "snake") -> None:
        super().__init__(catchall=True)
        self.config["json.enable"] = False
        self.envelope = EnvelopePlugin(version, case)
        # installed outermost first: bottle applies the last installed plugin innermost
        self.install(RequestPlugin())
        self.install(self.envelope)
        self.install(BodyLimitPlugin(max_body))
        self.install(AuthPlugin(authenticator))
        self.route("/<path:path>", method="OPTIONS", callback=self._options, auth=False)

    def default_error_handler(self, res: HTTPError) -> str:
        """The router's and bottle's own errors, in the envelope."""
        allowed = {m.strip() for m in (res.headers.get("Allow") or "").split(",") if m.strip()}
        if res.status_code == 405 and allowed - {"OPTIONS"}:
            return self.envelope.render_error("Invalid HTTP method on requested resource.", 405)
        if res.status_code in (404, 405):  # a 405 allowing only OPTIONS is the CORS catch-all
            return self.envelope.render_error(f"Not found: {request.path}", 404)
        outage = outages.unavailable(res.exception) if res.exception is not None else None
        if outage is not None:
            return self.envelope.render_failure(outage, cause=res.exception)
        if res.status_code >= 500:
            if res.traceback:
                log.error("unhandled error on %s %s\n%s", request.method, request.path, res.traceback)
            return self.envelope.render_error(GENERIC_500, 500)
        return self.envelope.render_error(str(res.body or res.status_line), res.status_code)

    def _options(self, path: str) -> dict[str, Any]:
        response.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
        response.set_header(
            "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, X-Tapis-Token, Idempotency-Key"
        )
        return ok(None)
