"""The core flows with ``http.case = "camel"`` (reference 1.1), the three apps in-process over WSGI.

Response keys are camelCase (top-level keys of the result object, or of each object of a result
list; ``_links`` as is), request fields are accepted in camelCase, and permission maps keep
their user names. The same flows in snake mode run through nginx in the integration suite
(``tests/integration/test_case_modes.py`` checks the snake keys there).
"""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_admin.app import make_app as make_admin
from abaco_messages.app import make_app as make_messages
from abaco_registration.app import make_app as make_registration
from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.enums import Role
from abaco_shared.errors import ConfigError
from abaco_shared.http import camel_keys, snake_keys
from abaco_shared.waiters import CompletionSignals

CFG = load_config(env={"ABACO__HTTP__CASE": "camel"})
AUTH = Authenticator(CFG.auth, b"x" * 32)
IMAGE = "abaco/echo:latest"


def call(app, method, path, body=None, user="alice", roles=(Role.USER,)):
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {}
    setup_testing_defaults(environ)
    path, _, query = path.partition("?")
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING=query, CONTENT_LENGTH=str(len(raw)))
    environ["CONTENT_TYPE"] = "application/json"
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, "dev", list(roles))
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append(status)))
    reply = json.loads(out)
    assert int(started[0].split()[0]) == 200, reply
    assert set(reply) == {"status", "message", "result", "version"}  # the envelope itself is never converted
    return reply["result"]


@pytest.fixture
def apps(mongo, broker, redis_client):
    return (
        make_registration(CFG, AUTH, broker),
        make_messages(CFG, AUTH, broker, CompletionSignals(redis_client, "abaco:")),
        make_admin(CFG, AUTH, broker),
    )


def test_register_get_update_list_in_camel_case(apps):
    reg, _, _ = apps
    body = {"image": IMAGE, "name": "echo", "defaultEnvironment": {"MY_VAR": "1"}, "useContainerUid": False}
    actor = call(reg, "POST", "/actors", body)

    assert {"defaultEnvironment", "maxWorkers", "useContainerUid", "statusMessage", "createTime"} <= set(actor)
    assert not {k for k in actor if "_" in k and not k.startswith("_")}, actor
    assert actor["defaultEnvironment"] == {"MY_VAR": "1"}  # nested keys are data: left as they are
    assert set(actor["_links"]) == {"self", "owner", "executions"}

    got = call(reg, "GET", f"/actors/{actor['id']}")
    assert got["lastUpdateTime"] and got["defaultEnvironment"] == {"MY_VAR": "1"}

    updated = call(reg, "PUT", f"/actors/{actor['id']}", {"image": IMAGE, "logEx": 60, "cronOn": False})
    assert (updated["logEx"], updated["name"], updated["revision"]) == (60, "echo", 1)

    listed = call(reg, "GET", "/actors")
    assert [a["id"] for a in listed] == [actor["id"]] and "defaultEnvironment" in listed[0]


def test_send_a_message_and_read_the_executions_in_camel_case(apps):
    reg, msgs, _ = apps
    actor = call(reg, "POST", "/actors", {"image": IMAGE})

    accepted = call(msgs, "POST", f"/actors/{actor['id']}/messages", {"n": 1})
    assert set(accepted) >= {"executionId", "msg", "_links"}
    mailbox = call(msgs, "GET", f"/actors/{actor['id']}/messages")
    assert mailbox["messages"] == 1

    summary = call(reg, "GET", f"/actors/{actor['id']}/executions")
    assert {"actorId", "apiServer", "totalExecutions", "totalCpu", "totalIo", "totalRuntime", "ids"} <= set(summary)
    assert summary["ids"] == [accepted["executionId"]]

    one = call(reg, "GET", f"/actors/{actor['id']}/executions/{accepted['executionId']}")
    assert {"actorId", "workerId", "messageReceivedTime", "exitCode", "finalState", "owner"} <= set(one)


def test_permission_maps_keep_user_names_and_admin_views_convert(apps):
    reg, _, admin = apps
    actor = call(reg, "POST", "/actors", {"image": IMAGE})

    grants = call(admin, "POST", f"/actors/{actor['id']}/permissions", {"user": "some_user", "level": "READ"})
    assert grants == {"alice": "UPDATE", "some_user": "READ"}

    workers = call(admin, "GET", "/actors/admin/workers", user="root", roles=(Role.ADMIN,))
    assert set(workers) == {"summary", "workers"}  # nested summary keys: as the original, untouched
    usage = call(reg, "GET", "/actors/utilization")
    assert set(usage) == {"currentActors", "totalActors", "workers", "commandQueue"}


def test_key_conversions():
    assert camel_keys({"execution_id": 1, "_links": {}, "id": 2}) == {"executionId": 1, "_links": {}, "id": 2}
    assert camel_keys([{"total_cpu": 1}, "x"]) == [{"totalCpu": 1}, "x"]
    assert snake_keys({"maxWorkers": 1, "actorId": "a", "isSecret": True, "image": "i", "MY_VAR": 2}) == {
        "max_workers": 1,
        "actor_id": "a",
        "is_secret": True,
        "image": "i",
        "MY_VAR": 2,
    }


def test_an_unknown_case_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="http.case"):
        load_config(env={"ABACO__HTTP__CASE": "kebab"})
