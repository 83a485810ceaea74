"""Worker records (``abaco_shared.workers``): the transition table and the queries."""

import datetime as dt
import itertools

import pytest

from abaco_shared import actors, workers
from abaco_shared.enums import WorkerStatus
from abaco_shared.models import Worker

pytestmark = pytest.mark.usefixtures("mongo")

S = WorkerStatus
T0 = dt.datetime(2024, 1, 1, 12, 0, 0)
_ids = itertools.count()


@pytest.fixture
def actor():
    return actors.create("dev", "alice", {"image": "abaco/echo:3", "revision": 4})


def put(actor_dbid="dev_A", status=S.READY, host_id="h1", pid=None, create_time=T0, **extra):
    """Insert a worker directly with the given fields."""
    worker_id = f"w{next(_ids)}"
    w = Worker(
        db_id=workers.key_for(actor_dbid, worker_id),
        worker_id=worker_id,
        actor_dbid=actor_dbid,
        tenant="dev",
        status=status.value,
        host_id=host_id,
        pid=pid,
        create_time=create_time,
        **extra,
    )
    w.save(force_insert=True)
    return w


def permitted(src, dst):
    allowed = workers.ALLOWED_FROM[dst]
    return allowed is None or src in allowed


# the transition table

PAIRS = list(itertools.product(list(S), list(S)))


# reference 3.3, written out independently so that a change to the table itself is caught
EXPECTED_TABLE = {
    S.REQUESTED: set(),
    S.SPAWNER_SETUP: {S.REQUESTED},
    S.PULLING_IMAGE: {S.SPAWNER_SETUP},
    S.CREATING_CONTAINER: {S.SPAWNER_SETUP, S.PULLING_IMAGE},
    S.UPDATING_STORE: {S.CREATING_CONTAINER},
    S.READY: {S.UPDATING_STORE, S.READY, S.BUSY},
    S.BUSY: {S.READY, S.BUSY},
    S.SHUTDOWN_REQUESTED: None,
    S.SHUTTING_DOWN: None,
    S.ERROR: None,
}


def test_the_table_is_the_reference():
    assert {k: None if v is None else set(v) for k, v in workers.ALLOWED_FROM.items()} == EXPECTED_TABLE


@pytest.mark.parametrize("src, dst", PAIRS, ids=[f"{a.name}->{b.name}" for a, b in PAIRS])
def test_set_status_follows_the_table(src, dst):
    w = put(status=src, pid=7, status_message="before")
    ok = workers.set_status(w.db_id, dst, "after", pid=42, cid="c1")
    stored = workers.get(w.db_id)
    assert ok is permitted(src, dst)
    if ok:
        assert (stored.status, stored.status_message, stored.pid, stored.cid) == (dst.value, "after", 42, "c1")
    else:
        assert (stored.status, stored.status_message, stored.pid, stored.cid) == (src.value, "before", 7, "")


def test_set_status_without_a_message_keeps_the_old_one():
    w = put(status=S.READY, status_message="up")
    assert workers.set_status(w.db_id, S.BUSY) is True
    assert workers.get(w.db_id).status_message == "up"


def test_set_status_of_a_missing_worker_is_false():
    assert workers.set_status("dev_A_nope", S.ERROR, "x") is False


# keys and creation


def test_key_formats():
    assert workers.key_for("dev_A", "W1") == "dev_A_W1"
    assert workers.heartbeat_key("abaco:", "W1") == "abaco:worker:W1:heartbeat"
    assert workers.heartbeat_key("", "W1") == "worker:W1:heartbeat"
    assert workers.channel_name("W1") == "worker_W1"


def test_create_requested(actor):
    w = workers.create_requested(actor, "W1")
    stored = workers.get(w.db_id)
    assert stored.db_id == f"{actor.db_id}_W1"
    assert (stored.worker_id, stored.actor_dbid, stored.tenant) == ("W1", actor.db_id, "dev")
    assert stored.status == S.REQUESTED.value
    assert stored.ch_name == "worker_W1"
    assert (stored.image, stored.revision) == ("abaco/echo:3", 4)
    assert stored.pid is None and stored.host_id is None


def test_get_for_actor_exists_and_list_for_actor(actor):
    workers.create_requested(actor, "W2")
    assert workers.get_for_actor(actor.db_id, "W2").worker_id == "W2"
    assert workers.get_for_actor(actor.db_id, "nope") is None
    assert workers.exists(workers.key_for(actor.db_id, "W2")) is True
    assert workers.exists(workers.key_for(actor.db_id, "nope")) is False


def test_existing_tells_which_records_exist_in_one_query(actor):
    workers.create_requested(actor, "W1")
    workers.create_requested(actor, "W2")
    keys = [workers.key_for(actor.db_id, w) for w in ("W1", "W2", "nope", "W1")]
    assert workers.existing(iter(keys)) == {keys[0], keys[1]}
    assert workers.existing([]) == set()


def test_list_for_actor_is_oldest_first_and_per_actor():
    late = put(actor_dbid="dev_A", create_time=T0 + dt.timedelta(seconds=1))
    early = put(actor_dbid="dev_A", create_time=T0)
    put(actor_dbid="dev_B")
    assert [w.db_id for w in workers.list_for_actor("dev_A")] == [early.db_id, late.db_id]
    assert workers.list_for_actor("dev_C") == []


# has_pending / count_on_host / live_on_host


@pytest.mark.parametrize("status", list(S), ids=[s.name for s in S])
def test_has_pending_by_default(status):
    put(actor_dbid="dev_A", status=status)
    assert workers.has_pending("dev_A") is (status in S.pending())
    assert workers.has_pending("dev_B") is False


def test_has_pending_with_custom_statuses():
    put(actor_dbid="dev_A", status=S.SHUTTING_DOWN)
    assert workers.has_pending("dev_A") is False
    assert workers.has_pending("dev_A", statuses=(S.SHUTTING_DOWN,)) is True
    assert workers.has_pending("dev_A", statuses=(S.READY, S.BUSY)) is False
    assert workers.has_pending("dev_A", statuses=()) is False


def test_count_on_host_counts_pending_workers_of_that_host():
    for status in S:
        put(host_id="h1", status=status)
    put(host_id="h2", status=S.READY)
    put(host_id=None, status=S.REQUESTED)
    assert workers.count_on_host("h1") == len(S.pending())
    assert workers.count_on_host("h2") == 1
    assert workers.count_on_host("h3") == 0


LIVE = {S.UPDATING_STORE, S.READY, S.BUSY, S.SHUTDOWN_REQUESTED, S.SHUTTING_DOWN}


def test_live_on_host_returns_started_workers():
    by_status = {status: put(host_id="h1", status=status) for status in S}
    put(host_id="h2", status=S.READY)
    got = {w.db_id for w in workers.live_on_host("h1")}
    assert got == {by_status[s].db_id for s in LIVE}


def test_live_on_host_with_pid_needs_a_recorded_pid():
    with_pid = put(host_id="h1", status=S.BUSY, pid=123)
    without = put(host_id="h1", status=S.BUSY)
    put(host_id="h1", status=S.ERROR, pid=9)  # not live
    assert {w.db_id for w in workers.live_on_host("h1")} == {with_pid.db_id, without.db_id}
    assert [w.db_id for w in workers.live_on_host("h1", with_pid=True)] == [with_pid.db_id]


# stuck_before

CUTOFF = T0 + dt.timedelta(minutes=5)
OLD = T0
NEW = CUTOFF + dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    "status, pid, created, stuck",
    [
        *[(s, None, OLD, True) for s in S.starting()],
        *[(s, None, NEW, False) for s in S.starting()],
        (S.SHUTDOWN_REQUESTED, None, OLD, True),
        (S.SHUTTING_DOWN, None, OLD, True),
        (S.SHUTDOWN_REQUESTED, 55, OLD, False),
        (S.SHUTTING_DOWN, 55, OLD, False),
        (S.SHUTTING_DOWN, None, NEW, False),
        (S.SHUTTING_DOWN, None, CUTOFF, False),  # strictly before the cutoff
        (S.UPDATING_STORE, None, OLD, False),
        (S.READY, None, OLD, False),
        (S.BUSY, None, OLD, False),
        (S.ERROR, None, OLD, False),
    ],
)
def test_stuck_before(status, pid, created, stuck):
    w = put(status=status, pid=pid, create_time=created)
    assert [x.db_id for x in workers.stuck_before(CUTOFF)] == ([w.db_id] if stuck else [])


# touch / delete / delete_if


def test_touch_sets_the_health_check_time():
    w = put()
    assert workers.get(w.db_id).last_health_check_time is None
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    workers.touch(w.db_id)
    checked = workers.get(w.db_id).last_health_check_time
    assert checked is not None and before <= checked <= before + dt.timedelta(seconds=10)


def test_touch_of_a_missing_worker_creates_nothing():
    workers.touch("dev_A_nope")
    assert workers.get("dev_A_nope") is None


def test_delete():
    w = put()
    assert workers.delete(w.db_id) is True
    assert workers.get(w.db_id) is None
    assert workers.delete(w.db_id) is False


@pytest.mark.parametrize(
    "conditions, deleted",
    [
        ({}, True),
        ({"status": S.READY}, True),
        ({"status": "READY"}, True),
        ({"status": S.BUSY}, False),
        ({"status": "BUSY"}, False),
        ({"pid": 10}, True),
        ({"pid": 11}, False),
        ({"pid": None}, False),
        ({"status": S.READY, "pid": 10}, True),
        ({"status": S.READY, "pid": 11}, False),
    ],
)
def test_delete_if(conditions, deleted):
    w = put(status=S.READY, pid=10)
    assert workers.delete_if(w.db_id, **conditions) is deleted
    assert (workers.get(w.db_id) is None) is deleted


def test_delete_if_with_a_spaced_status_value():
    w = put(status=S.SPAWNER_SETUP)
    assert workers.delete_if(w.db_id, status=S.SPAWNER_SETUP) is True


def test_delete_if_pid_none_matches_a_worker_without_pid():
    w = put(status=S.REQUESTED)
    assert workers.delete_if(w.db_id, pid=None) is True
