"""POST /actors/{id}/messages with an Idempotency-Key (header or ``_abaco_idempotency_key``): a repeat
answers the first execution; a bad key is a 400 before anything is read or queued."""

import io
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_messages.app import RESERVED_PARAMS, make_app
from abaco_messages.tests.test_app import ALICE, AUTH, CFG, IMAGE, queued
from abaco_shared.enums import Role
from abaco_shared.idempotency import KEY_PARAM
from abaco_shared.models import Execution
from abaco_shared.testing.wsgi import Reply, Unreadable
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows.registration import register_actor


def post(app, path, body=b"hello", key=None, query="", user="alice", stream=None):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="POST", PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE="text/plain")
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input"] = stream or io.BytesIO(body)
    environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint(user, "dev", [Role.USER])
    if key is not None:
        environ["HTTP_IDEMPOTENCY_KEY"] = key
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append((status, headers))))
    status, headers = started[0]
    return Reply(int(status.split()[0]), dict(headers), out)


@pytest.fixture
def app(mongo, broker, redis_client):
    return make_app(CFG, AUTH, broker, CompletionSignals(redis_client, "abaco:"))


@pytest.fixture
def actor(mongo, broker):
    return register_actor(ALICE, {"image": IMAGE}, broker)


@pytest.fixture
def path(actor):
    return f"/actors/{actor.actor_id}/messages"


def test_a_repeated_post_with_the_same_key_answers_the_first_execution(app, actor, path, broker):
    first = post(app, path, key="retry-me-1")
    again = post(app, path, key="retry-me-1")
    assert (first.status, again.status) == (200, 200)
    assert again.result["execution_id"] == first.result["execution_id"]
    assert again.result == first.result, "the first answer, again"
    assert len(queued(broker, actor)) == 1


def test_the_query_parameter_works_like_the_header_and_never_reaches_the_container(app, actor, path, broker):
    first = post(app, path, query=f"{KEY_PARAM}=k-2&colour=blue")
    again = post(app, path, key="k-2", query="colour=blue")
    assert again.result["execution_id"] == first.result["execution_id"]
    [mail] = queued(broker, actor)
    assert KEY_PARAM not in mail.env and mail.env["colour"] == "blue"
    assert KEY_PARAM in RESERVED_PARAMS
    assert Execution.objects.get().params == {"colour": "blue"}


def test_the_same_key_for_another_message_is_a_409(app, actor, path, broker):
    assert post(app, path, b"one", key="k-3").status == 200
    reply = post(app, path, b"two", key="k-3")
    assert reply.status == 409 and "already used for another message" in reply.message
    assert len(queued(broker, actor)) == 1


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "semi;colon"])
def test_a_malformed_key_is_a_400_before_the_body_is_read(app, path, broker, actor, key):
    reply = post(app, path, key=key, stream=Unreadable())
    assert reply.status == 400 and "Idempotency-Key" in reply.message
    assert queued(broker, actor) == []


def test_two_different_keys_are_two_executions(app, path, broker, actor):
    ids = {post(app, path, key=f"k-{n}").result["execution_id"] for n in range(3)}
    assert len(ids) == 3 and len(queued(broker, actor)) == 3
