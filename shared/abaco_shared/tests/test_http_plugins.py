"""The four plugins of AbacoApp and the body helpers of http.py, called as WSGI in-process."""

import datetime as dt
import io
import json
import urllib.parse
from wsgiref.util import setup_testing_defaults

import bottle
import pytest

from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.enums import Role
from abaco_shared.http import (
    AbacoApp,
    canonical_path,
    display_time,
    form_fields,
    form_or_json_object,
    json_body,
    ok,
    principal,
    query_flag,
    raw,
    requested_case,
)
from abaco_shared.testing.wsgi import Unreadable

VERSION = "9.8.7"
DEFAULT_MAX_BODY = 1000


def call(app, method, path, body=b"", headers=None, content_type="application/json", stream=None, length=None):
    environ = {}
    setup_testing_defaults(environ)
    path, _, query = path.partition("?")
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING=query)
    environ["CONTENT_LENGTH"] = str(len(body) if length is None else length)
    environ["CONTENT_TYPE"] = content_type
    environ["wsgi.input"] = stream if stream is not None else io.BytesIO(body)
    for k, v in (headers or {}).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    started = []
    out = b"".join(app(environ, lambda s, h, exc=None: started.append((s, h))))
    status, header_list = started[0]
    return int(status.split()[0]), {k.lower(): v for k, v in header_list}, out


def call_json(app, *args, **kwargs):
    code, headers, out = call(app, *args, **kwargs)
    assert headers["content-type"].startswith("application/json")
    return code, headers, json.loads(out)


@pytest.fixture
def app():
    cfg = load_config(env={})
    auth = Authenticator(cfg.auth, b"k" * 32)
    app = AbacoApp(VERSION, auth, DEFAULT_MAX_BODY)
    app.token = "Bearer " + auth.mint("alice", "dev", [Role.USER])

    @app.post("/sink")
    def sink():
        return ok(len(bottle.request.body.read()))

    @app.post("/small", max_body=10)
    def small():
        return ok(json_body())

    @app.post("/big", max_body=5000)
    def big():
        return ok(len(bottle.request.body.read()))

    @app.post("/open-sink", auth=False, max_body=10)
    def open_sink():
        return ok("read")

    @app.get("/whoami")
    def whoami():
        return ok({"user": principal().user, "tenant": principal().tenant})

    @app.get("/public", auth=False)
    def public():
        return ok({"has_principal": "abaco.principal" in bottle.request.environ})

    @app.get("/bytes", auth=False)
    def as_bytes():
        return raw(b"\x00\x01binary", "application/x-custom", X_Abaco_Execution="exec1")

    @app.get("/plain-dict", auth=False)
    def plain_dict():
        return {"status": "success", "message": "custom", "result": [1, 2], "when": dt.datetime(2020, 5, 1, 14, 45)}

    @app.get("/raises-response", auth=False)
    def raises_response():
        raise bottle.HTTPResponse("moved", status=302, Location="/elsewhere")

    @app.get("/returns-response", auth=False)
    def returns_response():
        return bottle.HTTPResponse("made", status=201, X_Thing="yes")

    @app.get("/aborts", auth=False)
    def aborts():
        bottle.abort(409, "busy elsewhere")

    @app.get("/flags", auth=False)
    def flags():
        return ok({name: query_flag(name) for name in ("a", "b", "c", "absent")})

    @app.post("/form", auth=False, max_body=1_000_000)
    def form():
        limit = int(bottle.request.query.get("limit", "0"))
        fields = form_fields(limit)
        return ok({k: len(fields.getunicode(k)) for k in fields.keys()})

    @app.post("/object", auth=False)
    def obj():
        return ok(form_or_json_object())

    @app.post("/optional", auth=False)
    def optional():
        return ok(json_body(required=False))

    return app


# -- plugin order --------------------------------------------------------------------------------


def test_body_limit_error_is_enveloped_and_carries_the_request_id(app):
    code, headers, body = call_json(app, "POST", "/sink", b"x" * (DEFAULT_MAX_BODY + 1))
    assert code == 413
    assert body == {
        "status": "error",
        "message": f"The request body exceeds the maximum of {DEFAULT_MAX_BODY} bytes.",
        "result": None,
        "version": VERSION,
    }
    assert len(headers["x-request-id"]) == 32 and int(headers["x-request-id"], 16) >= 0
    assert headers["access-control-allow-origin"] == "*"


def test_a_client_request_id_is_echoed(app):
    _, headers, _ = call(app, "GET", "/public", headers={"X-Request-Id": "client-id-42"})
    assert headers["x-request-id"] == "client-id-42"


def test_each_request_without_an_id_gets_a_new_one(app):
    ids = {call(app, "GET", "/public")[1]["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    for rid in ids:
        assert len(rid) == 32 and set(rid) <= set("0123456789abcdef")


def test_auth_errors_also_get_request_id_and_cors(app):
    code, headers, body = call_json(app, "GET", "/whoami")
    assert code == 401 and body["version"] == VERSION
    assert "x-request-id" in headers and headers["access-control-allow-origin"] == "*"


# -- body limit ----------------------------------------------------------------------------------


def test_a_body_at_the_default_limit_is_accepted(app):
    code, _, body = call_json(app, "POST", "/sink", b"x" * DEFAULT_MAX_BODY, headers={"Authorization": app.token})
    assert code == 200 and body["result"] == DEFAULT_MAX_BODY


def test_route_max_body_lowers_the_limit(app):
    code, _, body = call_json(app, "POST", "/small", b'{"a": 12345}', headers={"Authorization": app.token})
    assert code == 413 and "maximum of 10 bytes" in body["message"]
    code, _, body = call_json(app, "POST", "/small", b'{"a": 1}', headers={"Authorization": app.token})
    assert code == 200 and body["result"] == {"a": 1}


def test_route_max_body_raises_the_limit_above_the_default(app):
    code, _, body = call_json(app, "POST", "/big", b"y" * 4000, headers={"Authorization": app.token})
    assert code == 200 and body["result"] == 4000
    code, _, body = call_json(app, "POST", "/big", b"y" * 5001, headers={"Authorization": app.token})
    assert code == 413 and "maximum of 5000 bytes" in body["message"]


def test_the_limit_is_checked_from_the_header_before_the_body_is_read(app):
    code, _, body = call_json(
        app, "POST", "/sink", stream=Unreadable(), length=10**9, headers={"Authorization": app.token}
    )
    assert code == 413 and f"maximum of {DEFAULT_MAX_BODY} bytes" in body["message"]


def test_the_limit_is_checked_before_auth(app):
    # BodyLimitPlugin is installed outside AuthPlugin: an anonymous oversized request is a 413, not a 401
    code, _, body = call_json(app, "POST", "/sink", stream=Unreadable(), length=DEFAULT_MAX_BODY + 1)
    assert code == 413
    code, _, _ = call_json(app, "POST", "/sink", b"small")
    assert code == 401


def test_open_routes_still_have_a_body_limit(app):
    assert call_json(app, "POST", "/open-sink", b"x" * 11)[0] == 413
    assert call_json(app, "POST", "/open-sink", b"x" * 10)[2]["result"] == "read"


# -- auth ----------------------------------------------------------------------------------------


def test_auth_sets_the_principal(app):
    code, _, body = call_json(app, "GET", "/whoami", headers={"Authorization": app.token})
    assert code == 200 and body["result"] == {"user": "alice", "tenant": "dev"}


def test_a_bad_token_is_401(app):
    code, _, body = call_json(app, "GET", "/whoami", headers={"Authorization": "Bearer a.b.c"})
    assert code == 401 and body["status"] == "error" and body["result"] is None


def test_auth_false_routes_skip_auth_entirely(app):
    # not even a malformed header is looked at, and no principal is set
    code, _, body = call_json(app, "GET", "/public", headers={"Authorization": "Basic nonsense"})
    assert code == 200 and body["result"] == {"has_principal": False}


# -- envelope ------------------------------------------------------------------------------------


def test_raw_bytes_keep_their_content_type_and_headers(app):
    code, headers, out = call(app, "GET", "/bytes")
    assert code == 200
    assert out == b"\x00\x01binary"
    assert headers["content-type"] == "application/x-custom"
    assert headers["x-abaco-execution"] == "exec1"
    assert "x-request-id" in headers


def test_dict_results_get_the_version_and_datetimes_are_rendered(app):
    code, _, body = call_json(app, "GET", "/plain-dict")
    assert code == 200
    assert body == {
        "status": "success",
        "message": "custom",
        "result": [1, 2],
        "when": "2020-05-01T14:45:00.000Z",
        "version": VERSION,
    }


def test_a_raised_http_response_passes_through(app):
    code, headers, out = call(app, "GET", "/raises-response")
    assert code == 302 and out == b"moved"
    assert headers["location"].endswith("/elsewhere")


def test_a_returned_http_response_passes_through(app):
    code, headers, out = call(app, "GET", "/returns-response")
    assert code == 201 and out == b"made"
    assert headers["x-thing"] == "yes"


def test_abort_is_rendered_by_the_error_handler(app):
    code, _, body = call_json(app, "GET", "/aborts")
    assert code == 409
    assert body == {"status": "error", "message": "busy elsewhere", "result": None, "version": VERSION}


# -- router errors and OPTIONS -------------------------------------------------------------------


def test_unknown_path_is_404_not_the_405_of_the_options_catch_all(app):
    code, _, body = call_json(app, "GET", "/no/such/thing")
    assert code == 404
    assert body["message"] == "Not found: /no/such/thing" and body["version"] == VERSION


def test_known_path_with_a_wrong_method_is_405(app):
    code, _, body = call_json(app, "PUT", "/whoami", headers={"Authorization": app.token})
    assert code == 405 and body["message"] == "Invalid HTTP method on requested resource."


def test_options_answers_cors_on_any_path_without_auth(app):
    for path in ("/whoami", "/anything/at/all"):
        code, headers, body = call_json(app, "OPTIONS", path)
        assert code == 200 and body["status"] == "success" and body["result"] is None
        assert headers["access-control-allow-origin"] == "*"
        assert headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE, OPTIONS"
        allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
        assert {"Authorization", "Content-Type", "X-Request-Id"} <= allowed
        assert "x-request-id" in headers


# -- form bodies ---------------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


def big_form(size):
    return urllib.parse.urlencode({"message": "m" * size, "k": "v"}).encode()


def test_form_fields_reads_a_form_larger_than_bottles_memfile_max(app):
    before = bottle.BaseRequest.MEMFILE_MAX
    assert before == 102400
    body = big_form(150_000)
    code, _, out = call_json(app, "POST", "/form?limit=200000", body, content_type=FORM)
    assert code == 200 and out["result"] == {"message": 150_000, "k": 1}
    assert bottle.BaseRequest.MEMFILE_MAX == before
    assert bottle.request.MEMFILE_MAX == before
    assert bottle.Request.MEMFILE_MAX == before


def test_form_fields_with_a_small_limit_keeps_bottles_default(app):
    code, _, out = call_json(app, "POST", "/form?limit=10", big_form(150_000), content_type=FORM)
    assert code == 413
    assert out["status"] == "error" and out["version"] == VERSION
    # a small form still parses: the limit is never below bottle's own
    code, _, out = call_json(app, "POST", "/form?limit=10", big_form(100), content_type=FORM)
    assert code == 200 and out["result"] == {"message": 100, "k": 1}


def test_form_or_json_object_accepts_a_urlencoded_form(app):
    body = urllib.parse.urlencode({"message": "héllo wörld", "n": "3"}).encode()
    code, _, out = call_json(app, "POST", "/object", body, content_type=FORM + "; charset=utf-8")
    assert code == 200 and out["result"] == {"message": "héllo wörld", "n": "3"}


def test_form_or_json_object_accepts_a_multipart_form(app):
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="message"\r\n\r\nhi there\r\n--{boundary}--\r\n'
    ).encode()
    code, _, out = call_json(app, "POST", "/object", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert code == 200 and out["result"] == {"message": "hi there"}


def test_form_or_json_object_accepts_a_json_object(app):
    code, _, out = call_json(app, "POST", "/object", b'{"a": [1, 2], "b": null}')
    assert code == 200 and out["result"] == {"a": [1, 2], "b": None}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_form_or_json_object_refuses_non_object_json(app, body):
    code, _, out = call_json(app, "POST", "/object", body)
    assert code == 400 and out["message"] == "The request body must be a JSON object."


def test_form_or_json_object_with_an_empty_body_is_400(app):
    code, _, out = call_json(app, "POST", "/object", b"  \n")
    assert code == 400 and "empty" in out["message"]


def test_json_body_optional(app):
    code, _, out = call_json(app, "POST", "/optional", b"")
    assert code == 200 and out["result"] is None
    code, _, out = call_json(app, "POST", "/optional", b"[3]")
    assert code == 200 and out["result"] == [3]
    code, _, out = call_json(app, "POST", "/optional", b"\xff\xfe")
    assert code == 400 and "not valid JSON" in out["message"]


# -- small helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, expected",
    [
        ("a=true&b=1&c=yes", {"a": True, "b": True, "c": True}),
        ("a=TRUE&b=%201%20&c=Yes", {"a": True, "b": True, "c": True}),
        ("a=false&b=0&c=no", {"a": False, "b": False, "c": False}),
        ("a=&b=n&c=OFF", {"a": False, "b": False, "c": False}),
        ("a=y&b=on&c=", {"a": True, "b": True, "c": False}),
    ],
)
def test_query_flag(app, query, expected):
    _, _, out = call_json(app, "GET", "/flags?" + query)
    assert out["result"] == {**expected, "absent": False}


def test_a_flag_that_is_neither_yes_nor_no_is_a_400(app):
    code, _, out = call_json(app, "GET", "/flags?b=maybe")
    assert code == 400 and "Invalid b" in out["message"] and "true or false" in out["message"]


def test_display_time():
    assert display_time(None) is None
    assert display_time(dt.datetime(2020, 5, 1, 14, 45, 41, 591_999)) == "2020-05-01T14:45:41.591Z"
    assert display_time(dt.datetime(2020, 5, 1)) == "2020-05-01T00:00:00.000Z"
    aware = dt.datetime(2020, 5, 1, 14, 45, 41, 5000, tzinfo=dt.UTC)
    assert display_time(aware) == "2020-05-01T14:45:41.005Z"


@pytest.mark.parametrize(
    "path, canonical",
    [
        ("/actors", "/actors"),
        ("/actors/v2", "/actors"),
        ("/actors/v2/", "/actors/"),
        ("/actors/v2/A1/messages", "/actors/A1/messages"),
        ("/v3/actors/A1", "/actors/A1"),
        ("/actors//A1///messages", "/actors/A1/messages"),
        ("//actors/v2//A1", "/actors/A1"),
        ("/actors/v2x", "/actors/v2x"),  # an id that only starts like the prefix
        ("/v3/actorsX", "/v3/actorsX"),
    ],
)
def test_canonical_paths(path, canonical):
    assert canonical_path(path) == canonical


@pytest.mark.parametrize(
    "header, default, expected",
    [(None, "snake", "snake"), ("camel", "snake", "camel"), ("SNAKE", "camel", "snake"), ("kebab", "camel", "camel")],
)
def test_a_request_may_ask_for_its_key_case(header, default, expected):
    environ = {} if header is None else {"HTTP_X_ABACO_CASE": header}
    assert requested_case(environ, default) == expected
