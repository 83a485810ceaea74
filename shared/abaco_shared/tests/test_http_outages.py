"""A store outage at the HTTP edge: a JSON 503 with Retry-After that names the store, never a 500."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pymongo.errors
import pytest
import redis.exceptions

from abaco_shared import outages
from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.errors import ChannelError, ChannelTimeout, StoreUnavailable
from abaco_shared.http import GENERIC_500, AbacoApp, ok

VERSION = "1.2.3"


def get(app, path):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, QUERY_STRING="", CONTENT_LENGTH="0")
    environ["wsgi.input"] = io.BytesIO(b"")
    started = []
    out = b"".join(app(environ, lambda s, h, exc=None: started.append((s, h))))
    status, headers = started[0]
    return int(status.split()[0]), {k.lower(): v for k, v in headers}, json.loads(out)


def raise_(exc):
    def route():
        raise exc

    return route


@pytest.fixture
def app():
    cfg = load_config(env={})
    app = AbacoApp(VERSION, Authenticator(cfg.auth, b"k" * 32), 1000)
    failures = {
        "mongo": pymongo.errors.ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused"),
        "mongo-shutdown": pymongo.errors.OperationFailure("interrupted at shutdown", code=11600),
        "redis": redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379."),
        "broker": ChannelError("cannot publish to actor_msg_dev_X: [Errno 111] Connection refused"),
        "clientg": ChannelTimeout("no message on reply_1 within 10s"),
        "store": StoreUnavailable("MongoDB (the database) is unavailable; try again in 5 seconds.", store="MongoDB"),
        "bug": ZeroDivisionError("division by zero"),
    }
    for name, exc in failures.items():
        app.route(f"/fail/{name}", "GET", raise_(exc), auth=False)
    app.route("/fine", "GET", lambda: ok("yes"), auth=False)
    return app


@pytest.mark.parametrize(
    ("name", "store"),
    [
        ("mongo", "MongoDB"),
        ("mongo-shutdown", "MongoDB"),
        ("redis", "Redis"),
        ("broker", "RabbitMQ"),
        ("store", "MongoDB"),
    ],
)
def test_a_store_outage_is_a_503_with_retry_after_naming_the_store(app, name, store, caplog):
    code, headers, body = get(app, f"/fail/{name}")
    assert code == 503
    assert headers["retry-after"] == str(outages.RETRY_AFTER)
    assert headers["content-type"] == "application/json"
    assert body["status"] == "error" and body["result"] is None and body["version"] == VERSION
    assert body["message"].startswith(f"{store} (") and "unavailable; try again in" in body["message"]
    assert "Errno" not in body["message"], "the driver's words go to the log, not to the client"
    assert any("failed" in r.getMessage() for r in caplog.records), "the outage is logged"


def test_a_timeout_of_a_request_reply_keeps_its_own_message_but_says_when_to_retry(app):
    code, headers, body = get(app, "/fail/clientg")
    assert (code, headers["retry-after"]) == (503, str(outages.RETRY_AFTER))
    assert body["message"] == "no message on reply_1 within 10s"


def test_other_errors_stay_a_generic_500_without_retry_after(app):
    code, headers, body = get(app, "/fail/bug")
    assert code == 500 and "retry-after" not in headers
    assert body["message"] == GENERIC_500


def test_answers_that_work_carry_no_retry_after(app):
    code, headers, body = get(app, "/fine")
    assert (code, body["result"]) == (200, "yes") and "retry-after" not in headers
