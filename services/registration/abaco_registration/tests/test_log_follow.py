"""GET .../logs while an execution runs, and ?follow=true: a text/plain stream until it ends."""

from __future__ import annotations

import dataclasses

import pytest

from abaco_registration.app import make_app
from abaco_registration.log_follow import LogFollows
from abaco_shared import executions, logs
from abaco_shared.auth import Principal
from abaco_shared.config import load_config
from abaco_shared.enums import ExecutionOutcome, Role
from abaco_shared.errors import ConfigError, TooManyRequests
from abaco_shared.executions import Completion
from abaco_shared.models import Actor

from .test_app import AUTH, CFG, call, create, dbid

ALICE = Principal("alice", "dev", frozenset({Role.USER}))
BOB = Principal("bob", "dev", frozenset({Role.USER}))


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


@pytest.fixture
def actor(app):
    return create(app, name="ticker")


@pytest.fixture
def running(actor):
    """A RUNNING execution whose worker has copied "tick 1" of its output so far."""
    ex = executions.submit(Actor.objects.get(db_id=dbid(actor)), "EX1", "alice", "str", "go", {}).load()
    executions.start(ex.db_id)
    logs.save(ex, "tick 1\n", None)
    return ex


def finish(ex, text):
    logs.save(ex, text, None)
    executions.complete(ex.db_id, Completion(ExecutionOutcome.SUCCESS, 0, None, None, 0))


class Script:
    """A fake clock and sleep: each sleep runs the next step (the worker's next copy)."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.now = 0.0
        self.sleeps = 0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        self.now += seconds
        if self.steps:
            self.steps.pop(0)()


def test_logs_of_a_running_execution_are_the_copy_so_far(app, actor, running):
    reply = call(app, "GET", f"/actors/{actor['id']}/executions/EX1/logs")
    assert reply.status == 200 and reply.result["logs"] == "tick 1\n"


def test_a_follow_sends_what_is_new_until_the_execution_ends(running):
    script = Script(
        lambda: None,  # no new output
        lambda: logs.save(running, "tick 1\ntick 2\n", None),
        lambda: finish(running, "tick 1\ntick 2\ntick 3\ndone\n"),
    )
    follows = LogFollows(4, 2, timeout=60, poll=0.5, clock=script.clock, sleep=script.sleep)
    follows.gate.acquire("dev", "alice")  # what follow() does before the stream

    chunks = list(follows.stream(ALICE, running.db_id))

    assert chunks == [b"tick 1\n", b"tick 2\n", b"tick 3\ndone\n"]
    assert script.sleeps == 3 and follows.gate.in_flight == 0


def test_a_follow_ends_after_its_timeout(running):
    script = Script()
    follows = LogFollows(4, 2, timeout=2, poll=0.5, clock=script.clock, sleep=script.sleep)
    follows.gate.acquire("dev", "alice")

    assert list(follows.stream(ALICE, running.db_id)) == [b"tick 1\n"]
    assert script.now == 2.0 and follows.gate.in_flight == 0


def test_a_client_that_goes_away_gives_its_slot_back(running):
    follows = LogFollows(4, 2, timeout=60, poll=0.5, sleep=lambda s: None)
    follows.gate.acquire("dev", "alice")
    stream = follows.stream(ALICE, running.db_id)
    assert next(stream) == b"tick 1\n"
    stream.close()  # what the server does when the client disconnects
    assert follows.gate.in_flight == 0


def test_follows_are_bounded_per_user_and_in_all(running):
    follows = LogFollows(3, 2, timeout=60)
    follows.follow(ALICE, running)
    follows.follow(ALICE, running)
    with pytest.raises(TooManyRequests, match="Too many log follows in flight: you already have 2"):
        follows.follow(ALICE, running)
    follows.follow(BOB, running)
    with pytest.raises(TooManyRequests, match="on this server"):
        follows.follow(BOB, running)


def test_follow_over_http_is_text_plain_and_ends_with_the_execution(app, actor, running):
    finish(running, "tick 1\ntick 2\ndone\n")

    reply = call(app, "GET", f"/actors/{actor['id']}/executions/EX1/logs?follow=true")

    assert reply.status == 200 and reply.body == b"tick 1\ntick 2\ndone\n"
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["X-Accel-Buffering"] == "no" and reply.headers["X-Abaco-Execution-Id"] == "EX1"


def test_follow_false_is_the_ordinary_answer(app, actor, running):
    reply = call(app, "GET", f"/actors/{actor['id']}/executions/EX1/logs?follow=false")
    assert reply.status == 200 and reply.result["logs"] == "tick 1\n"


def test_follow_needs_read(app, actor, running):
    assert call(app, "GET", f"/actors/{actor['id']}/executions/EX1/logs?follow=true", user="bob").status == 404


@pytest.mark.parametrize(
    "key, value", [("max_log_follows", "0"), ("max_log_follows_per_user", "0"), ("log_follow_timeout", "0")]
)
def test_the_follow_limits_are_at_least_one(key, value):
    with pytest.raises(ConfigError, match="at least 1"):
        load_config(env={f"ABACO__HTTP__{key.upper()}": value})


def test_the_config_sets_the_limits():
    http = dataclasses.replace(CFG.http, max_log_follows=5, max_log_follows_per_user=1, log_follow_timeout=9)
    follows = LogFollows.from_config(dataclasses.replace(CFG, http=http))
    assert (follows.gate.max_total, follows.gate.max_per_user, follows.timeout) == (5, 1, 9)
    assert follows.gate.shared is None  # without Redis: counted in the process


def test_with_redis_a_users_follows_are_bounded_across_processes(redis_client):
    http = dataclasses.replace(CFG.http, max_log_follows=5, max_log_follows_per_user=1)
    one, other = (LogFollows.from_config(dataclasses.replace(CFG, http=http), redis_client) for _ in range(2))
    one.gate.acquire("dev", "alice")
    with pytest.raises(TooManyRequests):
        other.gate.acquire("dev", "alice")  # another registration process
    other.gate.acquire("dev", "bob")
    one.gate.release("dev", "alice")
    other.gate.acquire("dev", "alice")
