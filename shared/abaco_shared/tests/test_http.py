import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.enums import Role
from abaco_shared.errors import NotFound, ValidationError
from abaco_shared.http import AbacoApp, json_body, ok, principal


def call(app, method, path, body=b"", headers=None):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_TYPE"] = "application/json"
    for k, v in (headers or {}).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    status = []
    out = b"".join(app(environ, lambda s, h, exc=None: status.append((s, dict(h)))))
    code = int(status[0][0].split()[0])
    assert status[0][1]["Content-Type"].startswith("application/json")
    return code, json.loads(out)


@pytest.fixture
def app():
    cfg = load_config(env={})
    auth = Authenticator(cfg.auth, b"x" * 32)
    app = AbacoApp(cfg.general.version, auth, cfg.http.max_content_length)

    @app.get("/hello")
    def hello():
        return ok({"user": principal().user})

    @app.post("/echo")
    def echo():
        return ok(json_body())

    @app.get("/missing")
    def missing():
        raise NotFound("No actor found with identifier: x.")

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    @app.get("/open", auth=False)
    def open_route():
        raise ValidationError("bad thing")

    app.token = "Bearer " + auth.mint("alice", "dev", [Role.USER])
    return app


def test_success_envelope(app):
    code, body = call(app, "GET", "/hello", headers={"Authorization": app.token})
    assert code == 200
    assert body == {
        "status": "success",
        "message": "The request was successful",
        "result": {"user": "alice"},
        "version": "1.0.0",
    }


def test_no_token_is_401_json(app):
    code, body = call(app, "GET", "/hello")
    assert code == 401 and body["status"] == "error" and body["result"] is None
    assert "Bearer" in body["message"]


def test_router_errors_are_json(app):
    code, body = call(app, "GET", "/nope", headers={"Authorization": app.token})
    assert code == 404 and body["status"] == "error"
    code, body = call(app, "DELETE", "/hello", headers={"Authorization": app.token})
    assert code == 405 and body["message"] == "Invalid HTTP method on requested resource."


def test_error_tree_maps_to_statuses(app):
    assert call(app, "GET", "/missing", headers={"Authorization": app.token})[0] == 404
    assert call(app, "GET", "/open")[0] == 400
    code, body = call(app, "GET", "/boom", headers={"Authorization": app.token})
    assert code == 500 and "secret detail" not in body["message"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"n": 18446744073709551616}', "fit in 64 bits"),
        (b'{"a": [{"b\\u0000": 1}]}', "key with a NUL"),
        (b"[" * 70 + b"]" * 70, "nested too deeply"),
        (b'{"a": "x\\ud800y"}', "not valid Unicode"),
        (b'{"a": {"\\udfff": 1}}', "not valid Unicode"),
        (b'[["\\ud83d"]]', "not valid Unicode"),
        (b'{"a": NaN}', "not finite"),
        (b'{"a": [Infinity]}', "not finite"),
        (b'{"a": -1e999}', "not finite"),
    ],
)
def test_json_that_mongodb_cannot_keep_is_a_clear_400(app, raw, fragment):
    code, body = call(app, "POST", "/echo", raw, headers={"Authorization": app.token})
    assert code == 400 and fragment in body["message"], body


def test_a_surrogate_pair_is_text_and_large_finite_numbers_are_numbers(app):
    body = b'{"emoji": "\\ud83d\\ude00", "big": 1.7e308, "tiny": -5e-324}'
    code, answer = call(app, "POST", "/echo", body, headers={"Authorization": app.token})
    assert code == 200, answer


def test_malformed_json_is_a_clear_400(app):
    code, body = call(app, "POST", "/echo", b'{"a": ', headers={"Authorization": app.token})
    assert code == 400 and "not valid JSON" in body["message"]
    code, body = call(app, "POST", "/echo", b"", headers={"Authorization": app.token})
    assert code == 400 and "empty" in body["message"]
