"""/actors/{id}/dead_letters: list (READ), get (READ), re-send (EXECUTE) and discard (UPDATE)."""

from __future__ import annotations

import datetime as dt

import pytest

from abaco_registration.app import make_app
from abaco_shared import executions, permissions
from abaco_shared.channels import MailboxChannel
from abaco_shared.enums import ExecutionOutcome, Permission
from abaco_shared.models import Actor, Execution

from .test_app import AUTH, CFG, T0, call, create, dbid


@pytest.fixture
def app(mongo, broker):
    return make_app(CFG, AUTH, broker)


@pytest.fixture
def actor(app):
    return create(app, name="echo")


@pytest.fixture
def stored(actor):
    return Actor.objects.get(db_id=dbid(actor))


def given_up(stored, n):
    ex = executions.submit(stored, f"EX{n}", "alice", "str", f"message {n}", {"p": str(n)})
    Execution.objects(db_id=ex.db_id).update_one(set__message_received_time=T0 + dt.timedelta(seconds=n))
    executions.end(ex.db_id, ExecutionOutcome.NOT_STARTED, "image gone", dead_letter=True)


@pytest.fixture
def letters(stored):
    for n in (1, 2, 3):
        given_up(stored, n)


def test_the_list_pages_newest_first_with_the_total(app, actor, letters):
    reply = call(app, "GET", f"/actors/{actor['id']}/dead_letters?limit=2")

    assert reply.status == 200 and reply.headers["X-Total-Count"] == "3"
    first = reply.result[0]
    assert [d["execution_id"] for d in reply.result] == ["EX3", "EX2"]
    assert (first["message"], first["content_type"], first["params"]) == ("message 3", "str", {"p": "3"})
    assert (first["dead_letter"], first["resent_as"], first["status_message"]) == ("HELD", None, "image gone")
    assert first["_links"]["self"].endswith(f"/actors/v2/{actor['id']}/dead_letters/EX3")
    assert first["_links"]["execution"].endswith(f"/actors/v2/{actor['id']}/executions/EX3")
    assert call(app, "GET", f"/actors/{actor['id']}/dead_letters?skip=2").result[0]["execution_id"] == "EX1"


def test_one_letter_and_its_execution_show_it(app, actor, letters):
    assert call(app, "GET", f"/actors/{actor['id']}/dead_letters/EX2").result["execution_id"] == "EX2"
    ex = call(app, "GET", f"/actors/{actor['id']}/executions/EX2").result
    assert (ex["status"], ex["outcome"], ex["dead_letter"]) == ("ERROR", "NOT_STARTED", "HELD")
    missing = call(app, "GET", f"/actors/{actor['id']}/dead_letters/NOPE")
    assert missing.status == 404 and missing.message == "No dead letter found with identifier: NOPE."


def test_resend_makes_a_new_execution_and_the_letter_leaves_the_list(app, actor, letters, broker):
    reply = call(app, "POST", f"/actors/{actor['id']}/dead_letters/EX2")

    assert reply.status == 200, reply.json
    new_id = reply.result["resent_as"]
    assert reply.result["dead_letter"] == "RESENT" and reply.message == f"Dead letter re-sent as execution {new_id}."
    new = call(app, "GET", f"/actors/{actor['id']}/executions/{new_id}").result
    assert (new["status"], new["message"], new["params"]) == ("SUBMITTED", "message 2", {"p": "2"})
    assert MailboxChannel(broker, dbid(actor)).length() == 1
    listed = call(app, "GET", f"/actors/{actor['id']}/dead_letters")
    assert [d["execution_id"] for d in listed.result] == ["EX3", "EX1"]
    assert call(app, "GET", f"/actors/{actor['id']}/executions/EX2").result["resent_as"] == new_id
    assert call(app, "POST", f"/actors/{actor['id']}/dead_letters/EX2").status == 404  # only once


def test_discard_takes_it_off_the_list(app, actor, letters):
    reply = call(app, "DELETE", f"/actors/{actor['id']}/dead_letters/EX1")

    assert reply.status == 200 and reply.message == "Dead letter EX1 discarded."
    assert call(app, "GET", f"/actors/{actor['id']}/dead_letters").headers["X-Total-Count"] == "2"
    assert call(app, "GET", f"/actors/{actor['id']}/executions/EX1").result["dead_letter"] == "DISCARDED"
    assert call(app, "DELETE", f"/actors/{actor['id']}/dead_letters/EX1").status == 404


def test_levels_read_execute_update(app, actor, letters):
    base = f"/actors/{actor['id']}/dead_letters"
    assert call(app, "GET", base, user="bob").status == 404  # invisible without READ
    permissions.grant("dev", dbid(actor), "bob", Permission.READ)
    assert call(app, "GET", base, user="bob").status == 200
    assert call(app, "POST", f"{base}/EX1", user="bob").status == 403
    permissions.grant("dev", dbid(actor), "bob", Permission.EXECUTE)
    assert call(app, "DELETE", f"{base}/EX1", user="bob").status == 403
    resent = call(app, "POST", f"{base}/EX1", user="bob")
    assert resent.status == 200
    new = call(app, "GET", f"/actors/{actor['id']}/executions/{resent.result['resent_as']}").result
    assert new["executor"] == "bob"


def test_bad_paging_is_a_400(app, actor):
    assert call(app, "GET", f"/actors/{actor['id']}/dead_letters?limit=-1").status == 400
