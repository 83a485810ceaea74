"""The OpenAPI document: valid, served at /docs, and describing every route of every app."""

import inspect
import io
import json
import re
from wsgiref.util import setup_testing_defaults

import pytest
from openapi_spec_validator import validate

from abaco_admin.app import make_app as make_admin
from abaco_messages.app import make_app as make_messages
from abaco_registration.app import make_app as make_registration
from abaco_registration.docs_routes import render_page
from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.errors import MethodNotAllowed
from abaco_shared.http import AbacoApp
from abaco_shared.openapi import OPERATIONS, SCHEMAS, build_document, described_operations
from abaco_shared.waiters import CompletionSignals

CFG = load_config(env={})
AUTH = Authenticator(CFG.auth, b"x" * 32)
_PARAM = re.compile(r"<[^>]+>")


def build(make_app, **available):
    """``make_app`` called with the fakes its signature asks for (by parameter name), so this test
    keeps working as apps gain dependencies."""
    kwargs = {}
    for name, param in inspect.signature(make_app).parameters.items():
        if name in available:
            kwargs[name] = available[name]
        elif param.default is inspect.Parameter.empty:
            raise AssertionError(f"{make_app.__module__}.make_app needs {name!r}: add a fake for it here")
    return make_app(**kwargs)


@pytest.fixture
def apps(mongo, broker, redis_client):
    fakes = {
        "cfg": CFG,
        "authenticator": AUTH,
        "broker": broker,
        "signals": CompletionSignals(redis_client, "test:"),
        "redis_client": redis_client,
        "redis": redis_client,
    }
    return {
        "registration": build(make_registration, **fakes),
        "messages": build(make_messages, **fakes),
        "admin": build(make_admin, **fakes),
    }


def is_method_guard(route):
    """A route that only answers 405 (e.g. PUT /actors/aliases, so that it is not taken for PUT
    /actors/{actor_id}), or one installed with the option ``undocumented=True``: not an operation."""
    if route.config.get("undocumented"):
        return True
    return set(getattr(route.callback, "__code__", compile("", "", "exec")).co_names) == {"MethodNotAllowed"}


def route_key(method, rule):
    """``("GET", "/actors/{}/executions")`` for bottle's ``/actors/<actor_id>/executions``."""
    path = _PARAM.sub("{}", rule)
    if len(path) > 1:
        path = path.rstrip("/")
    return method.upper(), path


def test_the_document_is_valid_openapi_3():
    document = build_document("1.2.3")
    validate(document)  # raises on any violation
    assert document["openapi"].startswith("3.0")
    assert document["info"]["version"] == "1.2.3"


def undescribed(apps, described):
    """``app: METHOD /path/{param}`` of each route of ``apps`` that ``described`` lacks."""
    missing = []
    for name, app in apps.items():
        for route in app.routes:
            if route.method == "OPTIONS" or is_method_guard(route):  # the CORS catch-all, 405 guards
                continue
            if route_key(route.method, route.rule) not in described:
                missing.append(f"{name}: {route.method} {_PARAM.sub(lambda m: '{' + m[0][1:-1] + '}', route.rule)}")
    return missing


def test_every_route_of_every_app_is_described(apps):
    missing = undescribed(apps, described_operations(build_document()))
    assert not missing, "routes missing from shared/abaco_shared/openapi.py OPERATIONS:\n" + "\n".join(missing)


def test_the_walk_names_an_undescribed_route_and_skips_method_guards():
    app = AbacoApp("1", AUTH, 1000)

    @app.get("/actors/<actor_id>/bogus")
    def bogus(actor_id):
        return {}

    @app.route("/actors/aliases", method=["PUT", "PATCH"])
    def guard():
        raise MethodNotAllowed("Invalid HTTP method on requested resource.")

    app.get("/actors", callback=lambda: {})
    app.delete("/actors/<x:re:[a-z]+>/messages", callback=lambda x: {}, undocumented=True)
    described = described_operations(build_document())
    assert undescribed({"test": app}, described) == ["test: GET /actors/{actor_id}/bogus"]


def test_route_keys_map_bottle_params_to_braces():
    assert route_key("get", "/actors/<actor_id>/nonces/<nonce_id:re:[a-z]+>") == ("GET", "/actors/{}/nonces/{}")
    assert route_key("POST", "/actors/") == ("POST", "/actors")


def test_operations_are_unique_and_complete():
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids))
    assert len({(op.method, op.path) for op in OPERATIONS}) == len(OPERATIONS)
    document = build_document()
    for path, item in document["paths"].items():
        assert path.startswith(("/actors", "/admin", "/docs")) or path == "/metrics", path
        for method, op in item.items():
            errors = set(op["responses"]) - {"200"}
            assert {"404", "405"} <= errors, (method, path)
            if op.get("security") != []:
                assert {"400", "401", "403"} <= errors, (method, path)
            if "requestBody" in op:
                assert "413" in errors, (method, path)
    # list endpoints page with limit/skip and say the total in X-Total-Count
    listing = document["paths"]["/actors"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "skip", "search"}
    assert "X-Total-Count" in listing["responses"]["200"]["headers"]
    # every endpoint family of reference 1.2
    keys = described_operations(document)
    for key in [
        ("GET", "/actors"),
        ("PUT", "/actors/{}"),
        ("POST", "/actors/{}/state"),
        ("DELETE", "/actors/{}/executions/{}"),
        ("GET", "/actors/{}/executions/{}/results"),
        ("POST", "/actors/{}/messages"),
        ("DELETE", "/actors/{}/nonces/{}"),
        ("POST", "/actors/{}/workers"),
        ("PUT", "/actors/aliases/{}"),
        ("POST", "/actors/aliases/{}/nonces"),
        ("POST", "/actors/aliases/{}/permissions"),
        ("DELETE", "/actors/configs/{}"),
        ("POST", "/actors/configs/{}/permissions"),
        ("GET", "/actors/search/{}"),
        ("GET", "/actors/utilization"),
        ("GET", "/actors/admin/executions"),
    ]:
        assert key in keys, key


def test_actor_body_schema_has_every_field_of_reference_1_3():
    props = SCHEMAS["ActorInput"]["properties"]
    for field in ["image", "name", "stateless", "default_environment", "max_workers", "hints", "cron_schedule"]:
        assert field in props
    assert SCHEMAS["ActorInput"]["required"] == ["image"]
    assert "force" in SCHEMAS["ActorUpdate"]["properties"]


def get(app, path, token=None):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, CONTENT_LENGTH="0", QUERY_STRING="")
    environ["wsgi.input"] = io.BytesIO(b"")
    if token:
        environ["HTTP_AUTHORIZATION"] = "Bearer " + token
    started = []
    body = b"".join(app(environ, lambda status, headers, exc=None: started.append((status, dict(headers)))))
    return int(started[0][0].split()[0]), started[0][1], body


def test_the_document_is_served_without_credentials(apps):
    status, headers, body = get(apps["registration"], "/docs/openapi.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document == json.loads(json.dumps(build_document(CFG.general.version)))
    validate(document)
    assert get(apps["registration"], "/docs/nothing")[0] == 404


def test_the_page_lists_every_operation_and_fetches_nothing(apps):
    status, headers, body = get(apps["registration"], "/docs")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    for op in OPERATIONS:
        assert f'id="{op.operation_id}"' in page, op.operation_id
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not load anything from outside"
    assert "/docs/openapi.json" in page


def test_the_page_escapes_what_it_shows():
    document = build_document()
    document["paths"] = {"/x<y>": {"get": {"operationId": "o", "summary": "<b>", "responses": {"200": {}}}}}
    page = render_page(document)
    assert "<b>" not in page and "&lt;b&gt;" in page and "/x&lt;y&gt;" in page
