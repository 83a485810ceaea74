"""Execution records (``abaco_shared.executions``): the life of one execution and the queries."""

import datetime as dt
import threading

import bson
import pytest
from bson.dbref import DBRef
from mongoengine.errors import NotUniqueError

from abaco_shared import actors, executions
from abaco_shared.enums import ExecutionOutcome
from abaco_shared.executions import Completion, Totals
from abaco_shared.models import Actor, Execution, plain

pytestmark = pytest.mark.usefixtures("mongo")

Out = ExecutionOutcome
T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


@pytest.fixture
def actor():
    return actors.create("dev", "alice", {"image": "abaco/echo:latest"})


def submit(actor, ex_id="E1", message="hi", **fields):
    ex = executions.submit(actor, ex_id, "alice", "str", message, {"x": "1"})
    if fields:
        Execution.objects(db_id=ex.db_id).update_one(**{f"set__{k}": v for k, v in fields.items()})
    return ex


def put(actor_dbid, ex_id, received=T0, status="SUBMITTED", worker_id="", cpu=0, io=0, runtime=0):
    ex = Execution(
        db_id=executions.key_for(actor_dbid, ex_id),
        execution_id=ex_id,
        actor_dbid=actor_dbid,
        tenant="dev",
        status=status,
        worker_id=worker_id,
        message_received_time=received,
        cpu=cpu,
        io=io,
        runtime=runtime,
    )
    ex.save(force_insert=True)
    return ex


def stored(ex):
    return executions.get_by_key(ex.db_id)


# submit / get


def test_submit_records_a_submitted_execution(actor):
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    ex = executions.submit(actor, "E1", "bob", "application/json", {"a": 1}, {"p": "q"})
    got = executions.get(actor.db_id, "E1")
    assert got.db_id == f"{actor.db_id}_E1" == executions.key_for(actor.db_id, "E1") == ex.db_id
    assert (got.execution_id, got.actor_dbid, got.tenant, got.executor) == ("E1", actor.db_id, "dev", "bob")
    assert (got.content_type, got.message, got.params) == ("application/json", {"a": 1}, {"p": "q"})
    assert got.status == "SUBMITTED"
    assert (got.worker_id, got.attempts, got.outcome, got.start_time, got.finish_time) == ("", 0, None, None, None)
    assert before <= got.message_received_time <= before + dt.timedelta(seconds=10)


def test_submit_refuses_a_duplicate_key(actor):
    executions.submit(actor, "E1", "bob", "str", "a", {})
    with pytest.raises(NotUniqueError):
        executions.submit(actor, "E1", "bob", "str", "b", {})
    assert executions.get(actor.db_id, "E1").message == "a"


@pytest.mark.parametrize(
    ("content_type", "message", "params", "binary_ref"),
    [
        ("str", "hello", {}, None),
        ("application/json", {"a": [1, {"b": None}], "c": "d"}, {"p": "q", "r": ""}, None),
        ("application/octet-stream", {"binary_size": 3}, {}, "blob-1"),
    ],
)
def test_a_submitted_record_is_what_mongoengine_writes_for_it(
    actor, content_type, message, params, binary_ref, monkeypatch
):
    # the insert skips building the Execution document: what it writes must not differ, in
    # field order and BSON types either
    written = []
    monkeypatch.setattr(executions._INSERTS, "submit", written.append)
    executions.submit(actor, "E1", "bob", content_type, message, params, binary_ref)
    doc = written[0]
    ex = Execution(
        db_id=doc["_id"],
        execution_id="E1",
        actor_dbid=actor.db_id,
        tenant=actor.tenant,
        executor="bob",
        content_type=content_type,
        message=message,
        binary_ref=binary_ref,
        params=params,
        message_received_time=doc["message_received_time"],
    )
    assert bson.encode(doc) == bson.encode(ex.to_mongo())


def test_submit_answers_a_receipt_and_load_gives_the_stored_record(actor):
    receipt = executions.submit(actor, "E1", "bob", "str", "hi", {})
    assert (receipt.db_id, receipt.execution_id, receipt.actor_dbid) == (f"{actor.db_id}_E1", "E1", actor.db_id)
    assert (receipt.content_type, receipt.message) == ("str", "hi")
    assert receipt.load().status == "SUBMITTED"
    Execution.objects(db_id=receipt.db_id).delete()
    with pytest.raises(LookupError):
        receipt.load()


def test_a_batch_insert_fails_only_the_record_whose_key_exists(actor):
    executions.submit(actor, "E2", "bob", "str", "first", {})
    template = Execution._get_collection().find_one({"_id": f"{actor.db_id}_E2"})
    docs = [dict(template, _id=f"{actor.db_id}_E{i}", execution_id=f"E{i}", message=f"m{i}") for i in (1, 2, 3)]
    outcomes = executions.insert_records(docs)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], NotUniqueError) and f"{actor.db_id}_E2" in str(outcomes[1])
    assert [executions.get(actor.db_id, f"E{i}").message for i in (1, 2, 3)] == ["m1", "first", "m3"]


def test_a_record_bson_cannot_hold_fails_in_its_own_submit_not_in_a_batch(actor, monkeypatch):
    written = []
    monkeypatch.setattr(executions._INSERTS, "submit", written.append)
    with pytest.raises(OverflowError):
        executions.submit(actor, "E1", "bob", "application/json", {"n": 2**70}, {})
    assert written == []  # it never reached the group commit


def test_concurrent_submits_each_record_their_own_execution(actor):
    threads = [
        threading.Thread(target=executions.submit, args=(actor, f"C{i}", "bob", "str", f"m{i}", {"i": str(i)}))
        for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    got = {e.execution_id: (e.message, e.params) for e in Execution.objects(actor_dbid=actor.db_id)}
    assert got == {f"C{i}": (f"m{i}", {"i": str(i)}) for i in range(20)}


def test_get_unknown_is_none(actor):
    assert executions.get(actor.db_id, "nope") is None
    assert executions.get_by_key("dev_X_nope") is None


# claim


def test_claim_counts_attempts_and_sets_the_worker(actor):
    ex = submit(actor)
    first = executions.claim(ex.db_id, "W1")
    assert (first.worker_id, first.attempts, first.status) == ("W1", 1, "SUBMITTED")
    second = executions.claim(ex.db_id, "W2")  # a redelivery to another worker
    assert (second.worker_id, second.attempts) == ("W2", 2)
    assert (stored(ex).worker_id, stored(ex).attempts) == ("W2", 2)


def test_claim_fresh_takes_only_an_execution_no_worker_took(actor):
    ex = submit(actor)
    first = executions.claim_fresh(ex.db_id, "W1")
    assert (first.db_id, first.worker_id, first.attempts, first.status) == (ex.db_id, "W1", 1, "SUBMITTED")
    assert first.message == "hi" and first.message_received_time is not None  # the whole record
    assert executions.claim_fresh(ex.db_id, "W2") is None  # a duplicate: the caller looks first
    assert (stored(ex).worker_id, stored(ex).attempts) == ("W1", 1)
    assert executions.claim_fresh(executions.key_for(actor.db_id, "NOPE"), "W1") is None


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "RUNNING", "worker_id": "W1"},
        {"status": "COMPLETE", "outcome": "SUCCESS"},
        {"status": "ERROR", "outcome": "LOST"},  # claim revives it; claim_fresh leaves it to claim
    ],
)
def test_claim_fresh_leaves_every_other_execution_alone(actor, fields):
    ex = submit(actor, **fields)
    before = stored(ex).to_mongo().to_dict()
    assert executions.claim_fresh(ex.db_id, "W2") is None
    assert stored(ex).to_mongo().to_dict() == before


def test_claim_of_a_running_execution_goes_back_to_submitted(actor):
    ex = submit(actor, status="RUNNING", worker_id="W1", status_message="old")
    got = executions.claim(ex.db_id, "W2")
    assert (got.status, got.worker_id, got.status_message) == ("SUBMITTED", "W2", "")


@pytest.mark.parametrize(
    "status, outcome",
    [("COMPLETE", "SUCCESS"), ("COMPLETE", "FAILED"), ("ERROR", "NOT_STARTED"), ("ERROR", "FORCE_QUIT")],
)
def test_claim_refuses_a_terminal_execution(actor, status, outcome):
    ex = submit(actor, status=status, outcome=outcome, worker_id="W1", attempts=1)
    assert executions.claim(ex.db_id, "W2") is None
    after = stored(ex)
    assert (after.status, after.outcome, after.worker_id, after.attempts) == (status, outcome, "W1", 1)


def test_claim_revives_a_lost_execution(actor):
    ex = submit(actor)
    assert executions.end_lost(actor.db_id, dt.datetime(2999, 1, 1), "never delivered") == 1
    assert stored(ex).outcome == "LOST"
    got = executions.claim(ex.db_id, "W1")
    assert got is not None
    assert (got.status, got.outcome, got.status_message, got.worker_id, got.attempts) == (
        "SUBMITTED",
        None,
        "",
        "W1",
        1,
    )
    assert "outcome" not in Execution.objects(db_id=ex.db_id).as_pymongo().first()


def test_claim_unknown_is_none():
    assert executions.claim("dev_X_nope", "W1") is None
    assert Execution.objects.count() == 0


# start / complete


def test_start_sets_running_and_start_time(actor):
    ex = submit(actor)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    executions.start(ex.db_id)
    got = stored(ex)
    assert got.status == "RUNNING"
    assert before <= got.start_time <= before + dt.timedelta(seconds=10)
    assert executions.running_worker(ex.db_id) == ""  # RUNNING but never claimed


def test_complete_records_the_completion(actor):
    ex = submit(actor)
    executions.claim(ex.db_id, "W1")
    done = Completion(
        outcome=Out.FAILED,
        exit_code=3,
        started_at=T0,
        finished_at=T0 + dt.timedelta(seconds=2),
        runtime_ms=2000,
        cpu_ns=123,
        io_bytes=456,
        final_state={"Status": "exited", "ExitCode": 3, "OOMKilled": False, "Pid": 99, "Health": {}},
    )
    executions.complete(ex.db_id, done)
    got = stored(ex)
    assert (got.status, got.outcome, got.exit_code) == ("COMPLETE", "FAILED", 3)
    assert (got.start_time, got.finish_time) == (T0, T0 + dt.timedelta(seconds=2))
    assert (got.runtime, got.cpu, got.io) == (2000, 123, 456)
    assert got.final_state == {"Status": "exited", "ExitCode": 3, "OOMKilled": False}
    assert executions.is_terminal(ex.db_id) is True
    assert executions.claim(ex.db_id, "W2") is None


def test_complete_without_times_uses_now(actor):
    ex = submit(actor)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    executions.complete(ex.db_id, Completion(Out.SUCCESS, 0, None, None, 0))
    got = stored(ex)
    assert got.start_time == got.finish_time
    assert before <= got.finish_time <= before + dt.timedelta(seconds=10)
    assert got.final_state == {}


def test_an_end_the_engine_puts_before_the_start_is_recorded_at_the_start(actor):
    ex = submit(actor)
    early = Completion(Out.SUCCESS, 0, T0, T0 - dt.timedelta(milliseconds=1), 0)
    executions.complete(ex.db_id, early)
    got = stored(ex)
    assert got.start_time == got.finish_time == T0


# end / end_pending / end_lost


@pytest.mark.parametrize("status", ["SUBMITTED", "RUNNING"])
def test_end_ends_an_unfinished_execution(actor, status):
    ex = submit(actor, status=status)
    assert executions.end(ex.db_id, Out.FORCE_QUIT, "stopped by user") is True
    got = stored(ex)
    assert (got.status, got.outcome, got.status_message) == ("ERROR", "FORCE_QUIT", "stopped by user")
    assert got.finish_time is not None


def test_end_keeps_the_result_of_a_complete_execution(actor):
    ex = submit(actor)
    executions.complete(ex.db_id, Completion(Out.SUCCESS, 0, T0, T0, 1))
    assert executions.end(ex.db_id, Out.FORCE_QUIT, "too late") is False
    got = stored(ex)
    assert (got.status, got.outcome, got.exit_code, got.status_message) == ("COMPLETE", "SUCCESS", 0, "")


def test_end_does_not_end_twice(actor):
    ex = submit(actor)
    assert executions.end(ex.db_id, Out.NOT_STARTED, "first") is True
    assert executions.end(ex.db_id, Out.TIMED_OUT, "second") is False
    assert (stored(ex).outcome, stored(ex).status_message) == ("NOT_STARTED", "first")


def test_end_unknown_is_false():
    assert executions.end("dev_X_nope", Out.LOST, "x") is False


def test_end_pending_only_touches_unclaimed_submitted_executions_of_that_actor(actor):
    unclaimed = submit(actor, "E1")
    claimed = submit(actor, "E2", worker_id="W1")
    running = submit(actor, "E3", status="RUNNING")
    done = submit(actor, "E4", status="COMPLETE", outcome="SUCCESS")
    other = put("dev_OTHER", "E5")
    assert executions.end_pending(actor.db_id, "actor deleted") == 1
    got = stored(unclaimed)
    assert (got.status, got.outcome, got.status_message) == ("ERROR", "NOT_STARTED", "actor deleted")
    assert stored(claimed).status == "SUBMITTED"
    assert stored(running).status == "RUNNING"
    assert stored(done).status == "COMPLETE"
    assert stored(other).status == "SUBMITTED"


def test_end_lost_respects_the_cutoff(actor):
    cutoff = T0 + dt.timedelta(minutes=10)
    old = put(actor.db_id, "OLD", received=T0)
    at_cutoff = put(actor.db_id, "AT", received=cutoff)
    new = put(actor.db_id, "NEW", received=cutoff + dt.timedelta(seconds=1))
    claimed = put(actor.db_id, "CLAIMED", received=T0, worker_id="W1")
    other = put("dev_OTHER", "OTHER", received=T0)
    assert executions.end_lost(actor.db_id, cutoff, "mailbox lost") == 1
    got = stored(old)
    assert (got.status, got.outcome, got.status_message) == ("ERROR", "LOST", "mailbox lost")
    for ex in (at_cutoff, new, claimed, other):
        assert stored(ex).status == "SUBMITTED"


# is_terminal / running_worker


@pytest.mark.parametrize(
    "status, terminal", [("SUBMITTED", False), ("RUNNING", False), ("COMPLETE", True), ("ERROR", True)]
)
def test_is_terminal(actor, status, terminal):
    ex = submit(actor, status=status)
    assert executions.is_terminal(ex.db_id) is terminal


def test_a_missing_execution_is_terminal():
    assert executions.is_terminal("dev_X_nope") is True


def test_running_worker(actor):
    ex = submit(actor)
    assert executions.running_worker(ex.db_id) == ""
    executions.claim(ex.db_id, "W1")
    assert executions.running_worker(ex.db_id) == ""  # claimed, not yet started
    executions.start(ex.db_id)
    assert executions.running_worker(ex.db_id) == "W1"
    executions.complete(ex.db_id, Completion(Out.SUCCESS, 0, None, None, 1))
    assert executions.running_worker(ex.db_id) == ""
    assert executions.running_worker("dev_X_nope") == ""


# page


def test_page_is_newest_first_with_ties_broken_by_key():
    put("dev_A", "e1", received=T0)
    put("dev_A", "e3", received=T0 + dt.timedelta(seconds=1))
    put("dev_A", "e2", received=T0 + dt.timedelta(seconds=1))
    put("dev_A", "e4", received=T0 + dt.timedelta(seconds=2))
    put("dev_B", "e5", received=T0 + dt.timedelta(seconds=9))
    ids = [e.execution_id for e in executions.page("dev_A", limit=10, skip=0)]
    assert ids == ["e4", "e3", "e2", "e1"]
    assert ids == [e.execution_id for e in executions.page("dev_A", limit=10, skip=0)]  # stable


@pytest.mark.parametrize(
    "limit, skip, expected",
    [
        (0, 0, []),
        (-1, 0, []),
        (2, 0, ["e4", "e3"]),
        (2, 2, ["e2", "e1"]),
        (10, 3, ["e1"]),
        (10, 4, []),
    ],
)
def test_page_limit_and_skip(limit, skip, expected):
    for n in range(1, 5):
        put("dev_A", f"e{n}", received=T0 + dt.timedelta(seconds=n))
    assert [e.execution_id for e in executions.page("dev_A", limit=limit, skip=skip)] == expected


# totals


def test_totals_sums_the_actor_executions():
    put("dev_A", "e1", cpu=10, io=100, runtime=1000)
    put("dev_A", "e2", cpu=5, io=50, runtime=500)
    put("dev_A", "e3")
    put("dev_B", "e4", cpu=999, io=999, runtime=999)
    assert executions.totals("dev_A") == Totals(count=3, cpu=15, io=150, runtime=1500)


def test_totals_of_an_actor_without_executions():
    put("dev_B", "e1", cpu=1)
    assert executions.totals("dev_A") == Totals(count=0, cpu=0, io=0, runtime=0)


# actors_with_unclaimed_before / actors_with_unfinished


def test_actors_with_unclaimed_before():
    cutoff = T0 + dt.timedelta(minutes=1)
    put("dev_B", "e1", received=T0)
    put("dev_B", "e2", received=T0)  # the same actor is listed once
    put("dev_A", "e3", received=T0)
    put("dev_C", "e4", received=cutoff)  # not before the cutoff
    put("dev_D", "e5", received=T0, worker_id="W1")  # claimed
    put("dev_E", "e6", received=T0, status="RUNNING")
    put("dev_F", "e7", received=T0, status="ERROR")
    assert executions.actors_with_unclaimed_before(cutoff) == ["dev_A", "dev_B"]


def test_actors_with_unfinished():
    put("dev_C", "e1", status="SUBMITTED")
    put("dev_A", "e2", status="RUNNING")
    put("dev_A", "e3", status="SUBMITTED")
    put("dev_B", "e4", status="COMPLETE")
    put("dev_D", "e5", status="ERROR")
    assert executions.actors_with_unfinished() == ["dev_A", "dev_C"]
    assert executions.actors_with_unfinished(keep=lambda key: key != "dev_A") == ["dev_C"]
    assert executions.actors_with_unfinished(keep=lambda key: False) == []


def test_nothing_unfinished():
    assert executions.actors_with_unfinished() == []
    assert executions.actors_with_unclaimed_before(dt.datetime(2999, 1, 1)) == []


def test_a_message_read_back_as_a_database_reference_is_the_dict_that_was_sent():
    sent = {"x": [{"$ref": "c", "$id": 1}], "y": {"$ref": "d", "$id": "e", "$db": "f", "more": {"k": 1}}}
    read = {"x": [DBRef("c", 1)], "y": DBRef("d", "e", "f", more={"k": 1})}  # what pymongo gives back
    assert plain(read) == sent
    ex = Execution._from_son({"_id": "a_E1", "execution_id": "E1", "message": read})
    assert ex.message == sent and not isinstance(ex.message["y"], DBRef)
    untouched = {"a": [1, {"b": "c"}], "$ref": 2}
    assert plain(untouched) is untouched  # nothing to change: the same object, no copy


def test_a_cls_key_in_a_users_data_is_a_key_like_any_other():
    # mongoengine reads a dict with "_cls" as a document of that class (and raised NotRegistered)
    for _ in range(2):  # every read sets the fields' dereferencing again
        ex = Execution._from_son(
            {"_id": "a_E1", "execution_id": "E1", "message": {"_cls": "c", "x": {"_cls": "d"}}, "params": {"_cls": "e"}}
        )
        ex._initialised = True
        assert ex.message == {"_cls": "c", "x": {"_cls": "d"}} and ex.params == {"_cls": "e"}
        actor = Actor._from_son({"_id": "t_A", "default_environment": {"_cls": "c"}, "state": {"_cls": "s"}})
        actor._initialised = True
        assert actor.default_environment == {"_cls": "c"} and actor.state == {"_cls": "s"}
