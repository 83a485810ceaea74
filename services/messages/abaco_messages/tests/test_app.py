"""The messages API in-process over WSGI, with mongomock records, a memory:// broker and fakeredis."""

import io
import json
import urllib.parse
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_messages.app import make_app
from abaco_shared import actors, executions, permissions
from abaco_shared.auth import Authenticator, Principal
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import load_config
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, Permission, Role
from abaco_shared.errors import ChannelTimeout
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Execution, Log
from abaco_shared.testing.wsgi import Reply, Unreadable
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows import mailbox as mailbox_workflow
from abaco_shared.workflows.registration import register_actor

CFG = load_config(env={})
AUTH = Authenticator(CFG.auth, b"x" * 32)
ALICE = Principal("alice", "dev", frozenset({Role.USER}))
IMAGE = "abaco/echo:latest"


def call(app, method, path, body=b"", *, user="alice", tenant="dev", content_type="text/plain", **kw):
    """One request through the WSGI app; ``user=None`` sends no token."""
    if isinstance(body, str):
        body = body.encode()
    path, _, query = path.partition("?")
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE=content_type)
    environ["CONTENT_LENGTH"] = str(kw.pop("content_length", len(body)))
    environ["wsgi.input"] = kw.pop("stream", None) or io.BytesIO(body)
    if user is not None:
        environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, tenant, [Role.USER])
    assert not kw, kw
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append((status, headers))))
    status, headers = started[0]
    return Reply(int(status.split()[0]), dict(headers), out)


def post_json(app, path, value, **kw):
    return call(app, "POST", path, json.dumps(value), content_type="application/json", **kw)


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


@pytest.fixture
def app(mongo, broker, signals):
    return make_app(CFG, AUTH, broker, signals)


@pytest.fixture
def actor(mongo, broker):
    """alice's actor; its registration already requested a worker, so messages request none."""
    return register_actor(ALICE, {"image": IMAGE}, broker)


@pytest.fixture
def path(actor):
    return f"/actors/{actor.actor_id}/messages"


def queued(broker, actor):
    """The mailbox messages waiting for the actor (taken off the queue)."""
    found = []
    queue = MailboxChannel(broker, actor.db_id).queue
    while True:
        try:
            found.append(MailboxMessage.from_dict(broker.get(queue, 0)))
        except ChannelTimeout:
            return found


def accepted(reply, actor):
    """The execution behind a 200 answer to a POST, checked against the answer."""
    assert reply.status == 200, reply.json
    result = reply.result
    ex = executions.get(actor.db_id, result["execution_id"])
    assert ex is not None and ex.status == ExecutionStatus.SUBMITTED.value
    assert result["msg"] == ex.message
    assert result["_links"]["self"].endswith(f"/actors/v2/{actor.actor_id}/executions/{ex.execution_id}")
    return ex


# -- POST: message bodies --------------------------------------------------------------------


def test_a_form_message_is_a_string(app, actor, path, broker):
    reply = call(app, "POST", path, "message=hello+world", content_type="application/x-www-form-urlencoded")

    ex = accepted(reply, actor)
    assert (ex.message, ex.content_type, ex.executor) == ("hello world", "str", "alice")
    [mail] = queued(broker, actor)
    assert (mail.execution_id, mail.message, mail.content_type) == (ex.execution_id, "hello world", "str")


def test_a_text_body_is_a_string(app, actor, path):
    ex = accepted(call(app, "POST", path, "just some text\n", content_type="text/plain; charset=utf-8"), actor)

    assert (ex.message, ex.content_type) == ("just some text\n", "str")


def test_a_body_without_a_content_type_is_a_string(app, actor, path):
    ex = accepted(call(app, "POST", path, "untyped", content_type=""), actor)

    assert (ex.message, ex.content_type) == ("untyped", "str")


def test_a_json_object_is_a_json_message(app, actor, path, broker):
    ex = accepted(post_json(app, path, {"a": 1, "b": [True, None]}), actor)

    assert (ex.message, ex.content_type) == ({"a": 1, "b": [True, None]}, "application/json")
    [mail] = queued(broker, actor)
    assert (mail.message, mail.env["_abaco_Content_Type"]) == ({"a": 1, "b": [True, None]}, "application/json")


def test_a_json_object_with_a_message_string_is_that_string(app, actor, path):
    ex = accepted(post_json(app, path, {"message": "inner", "other": 1}), actor)

    assert (ex.message, ex.content_type) == ("inner", "str")


def test_a_json_message_field_that_is_not_a_string_keeps_the_whole_object(app, actor, path):
    ex = accepted(post_json(app, path, {"message": {"nested": 1}}), actor)

    assert (ex.message, ex.content_type) == ({"message": {"nested": 1}}, "application/json")


def test_a_json_list_is_a_json_message(app, actor, path):
    ex = accepted(post_json(app, path, [1, "two", 3.5]), actor)

    assert (ex.message, ex.content_type) == ([1, "two", 3.5], "application/json")


def test_query_parameters_become_params_but_reserved_ones_do_not(app, actor, path, broker):
    reserved = {"message", "x-nonce", "access_token", "token"}
    query = urllib.parse.urlencode({"count": "3", "name": "x y", **{k: "secret" for k in reserved}})

    ex = accepted(call(app, "POST", f"{path}?{query}", "hi"), actor)

    assert ex.params == {"count": "3", "name": "x y"}
    [mail] = queued(broker, actor)
    assert (mail.env["count"], mail.env["name"]) == ("3", "x y")
    assert not set(mail.env) & reserved
    assert (mail.env["_abaco_username"], mail.env["_abaco_execution_id"]) == ("alice", ex.execution_id)


def test_a_query_parameter_cannot_override_the_platform_environment(app, actor, path, broker):
    accepted(call(app, "POST", f"{path}?_abaco_username=mallory", "hi"), actor)

    [mail] = queued(broker, actor)
    assert mail.env["_abaco_username"] == "alice"


@pytest.mark.parametrize(
    "body, content_type, fragment",
    [
        (b"", "text/plain", "empty"),
        (b"   \n", "application/json", "empty"),
        (b'{"a": ', "application/json", "invalid JSON"),
        (b"", "application/octet-stream", "empty"),
        (b"<a/>", "application/xml", "Unsupported Content-Type"),
        (b"\xff\xfe", "text/plain", "not UTF-8"),
        (b"other=1", "application/x-www-form-urlencoded", "Missing message"),
    ],
)
def test_an_unusable_body_is_400_and_records_nothing(app, path, broker, actor, body, content_type, fragment):
    reply = call(app, "POST", path, body, content_type=content_type)

    assert reply.status == 400 and fragment in reply.message
    assert Execution.objects.count() == 0
    assert queued(broker, actor) == []


def test_a_message_over_the_maximum_is_413_before_it_is_read(app, path):
    limit = CFG.http.max_message_length

    reply = call(app, "POST", path, content_length=limit + 1, stream=Unreadable())

    assert reply.status == 413 and str(limit) in reply.message
    assert Execution.objects.count() == 0


def test_a_message_of_exactly_the_maximum_is_accepted(app, actor, path):
    ex = accepted(call(app, "POST", path, "x" * CFG.http.max_message_length), actor)

    assert len(ex.message) == CFG.http.max_message_length


def test_a_json_message_too_large_once_rendered_is_413(app, path):
    compact = "[" + ",".join(["1"] * 50_000) + "]"  # 100 KB as sent, 150 KB as json.dumps renders it
    assert len(compact) < CFG.http.max_message_length

    reply = call(app, "POST", path, compact, content_type="application/json")

    assert reply.status == 413 and "renders to" in reply.message
    assert Execution.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        ('{"a": 100000000000000000000}', "application/json", "fit in 64 bits"),
        ('[1, {"b": -9223372036854775809}]', "application/json", "fit in 64 bits"),
        ('{"a\\u0000b": 1}', "application/json", "key with a NUL"),
        ("a\x00b", "text/plain", "NUL character"),
        ('{"message": "a\\u0000b"}', "application/json", "NUL character"),
    ],
)
def test_a_message_no_store_or_container_can_keep_is_a_400(app, path, body, content_type, fragment):
    # MongoDB cannot keep such an integer or key, a container's environment such a string: a
    # clear 400 at once, never a 500 (or a message that can only fail later)
    reply = call(app, "POST", path, body, content_type=content_type)

    assert reply.status == 400 and fragment in reply.message, reply
    assert Execution.objects.count() == 0


def test_the_largest_64_bit_integers_and_nul_inside_json_strings_are_accepted(app, actor, path):
    body = '{"max": 9223372036854775807, "min": -9223372036854775808, "s": "a\\u0000b"}'
    ex = accepted(call(app, "POST", path, body, content_type="application/json"), actor)

    assert ex.message == {"max": 2**63 - 1, "min": -(2**63), "s": "a\x00b"}


# -- POST: who may send, and to which actor --------------------------------------------------


def test_sending_needs_execute(app, actor, path):
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert call(app, "POST", path, "hi", user="bob").status == 403

    permissions.grant("dev", actor.db_id, "bob", Permission.EXECUTE)
    ex = accepted(call(app, "POST", path, "hi", user="bob"), actor)
    assert ex.executor == "bob"


def test_no_token_is_401_and_another_tenant_is_404(app, path):
    assert call(app, "POST", path, "hi", user=None).status == 401
    assert call(app, "POST", path, "hi", user="eve", tenant="other").status == 404
    assert call(app, "POST", "/actors/NoSuchActor/messages", "hi").status == 404
    assert Execution.objects.count() == 0


def test_an_actor_in_error_is_409(app, actor, path):
    actors.fail(actor.db_id, "image could not be pulled")

    reply = call(app, "POST", path, "hi")

    assert reply.status == 409 and "image could not be pulled" in reply.message
    assert Execution.objects.count() == 0


# -- POST: synchronous -----------------------------------------------------------------------


def test_a_synchronous_call_returns_the_raw_logs_of_the_finished_execution(app, actor, path, signals, monkeypatch):
    monkeypatch.setattr(mailbox_workflow, "new_id", lambda: "EXSYNC")
    ex_dbid = executions.key_for(actor.db_id, "EXSYNC")
    # the execution is over before the caller starts waiting: its logs are saved, its signal sent
    Log(db_id=ex_dbid, actor_dbid=actor.db_id, tenant="dev", execution_id="EXSYNC", logs="out: 42\n").save()
    signals.notify(ex_dbid)

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "compute")

    assert reply.status == 200
    assert reply.body == b"out: 42\n"
    assert reply.headers["X-Abaco-Execution-Id"] == "EXSYNC"
    assert reply.headers["Content-Type"] == "application/octet-stream"


def test_a_synchronous_call_that_times_out_is_a_json_504_naming_the_execution(mongo, broker, signals, actor, path):
    cfg = load_config(env={"ABACO__HTTP__SYNC_TIMEOUT": "1"})
    app = make_app(cfg, AUTH, broker, signals)

    reply = call(app, "POST", f"{path}?_abaco_synchronous=true", "slow")

    assert reply.status == 504 and reply.headers["Content-Type"].startswith("application/json")
    [ex] = Execution.objects(actor_dbid=actor.db_id)
    assert ex.execution_id in reply.message
    assert ex.status == ExecutionStatus.SUBMITTED.value  # it keeps running


# -- GET and DELETE --------------------------------------------------------------------------


def test_get_counts_waiting_messages(app, actor, path):
    for text in ("one", "two"):
        accepted(call(app, "POST", path, text), actor)

    reply = call(app, "GET", path)

    assert reply.status == 200 and reply.result["messages"] == 2
    assert reply.result["_links"]["self"].endswith(f"/actors/v2/{actor.actor_id}/messages")


def test_get_counts_zero_before_any_message(app, path):
    reply = call(app, "GET", path)

    assert reply.status == 200 and reply.result["messages"] == 0


def test_counting_needs_read(app, actor, path):
    assert call(app, "GET", path, user="bob").status == 404  # no READ: the actor is invisible
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert call(app, "GET", path, user="bob").status == 200


def test_delete_purges_the_mailbox_and_ends_its_executions(app, actor, path, broker):
    ids = [accepted(call(app, "POST", path, text), actor).execution_id for text in ("one", "two")]

    reply = call(app, "DELETE", path)

    assert reply.status == 200 and reply.result["msg"] == "Actor mailbox purged."
    assert call(app, "GET", path).result["messages"] == 0
    for execution_id in ids:
        ex = executions.get(actor.db_id, execution_id)
        assert (ex.status, ex.outcome) == (ExecutionStatus.ERROR.value, ExecutionOutcome.NOT_STARTED.value)


def test_purging_needs_update(app, actor, path):
    accepted(call(app, "POST", path, "keep"), actor)
    permissions.grant("dev", actor.db_id, "bob", Permission.EXECUTE)

    assert call(app, "DELETE", path, user="bob").status == 403
    assert call(app, "GET", path).result["messages"] == 1
