"""Workflows over mongomock records and a memory:// broker: registration, mailbox and scaling."""

import gc
import logging
import threading
import weakref

import pytest
from mongoengine.errors import NotUniqueError

from abaco_shared import actors, executions, logs, permissions, workers
from abaco_shared.auth import Principal
from abaco_shared.broker import Broker
from abaco_shared.channels import CommandChannel, MailboxChannel, WorkerChannel
from abaco_shared.enums import (
    ActorStatus,
    ExecutionOutcome,
    ExecutionStatus,
    Permission,
    Role,
    WorkerCommandName,
    WorkerStatus,
)
from abaco_shared.errors import (
    ChannelError,
    ChannelTimeout,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    WaitTimeout,
)
from abaco_shared.messages import MailboxMessage, SpawnCommand, WorkerCommand
from abaco_shared.models import Actor, Execution, Log, PermissionRecord, Worker
from abaco_shared.testing.fakes import memory_broker
from abaco_shared.waiters import CompletionSignals
from abaco_shared.workflows import mailbox as mailbox_workflow
from abaco_shared.workflows import registration, scaling
from abaco_shared.workflows.mailbox import (
    IncomingMessage,
    expecting_message,
    message_env,
    purge_mailbox,
    submit_message,
)
from abaco_shared.workflows.registration import delete_actor, register_actor, update_actor
from abaco_shared.workflows.scaling import ensure_one_worker, stop_workers
from abaco_shared.workflows.sync_calls import wait_for_answer

API = "https://api.test"
IMAGE = "abaco/echo:latest"
ALICE = Principal("alice", "dev", frozenset({Role.USER}))
BOB = Principal("bob", "dev", frozenset({Role.USER}))
ROOT = Principal("root", "dev", frozenset({Role.ADMIN}))


# -- helpers ---------------------------------------------------------------------------------


def drain(broker, queue):
    """Every body waiting in ``queue`` (taken off it), oldest first."""
    bodies = []
    while True:
        try:
            bodies.append(broker.get(queue, 0))
        except ChannelTimeout:
            return bodies


def spawn_commands(broker, queue_name="default"):
    return [SpawnCommand.from_dict(b) for b in drain(broker, CommandChannel(broker, queue_name).queue)]


def mailbox(broker, actor):
    return [MailboxMessage.from_dict(b) for b in drain(broker, MailboxChannel(broker, actor.db_id).queue)]


def worker_commands(broker, worker):
    return [WorkerCommand.from_dict(b).command for b in drain(broker, WorkerChannel(broker, worker.worker_id).queue)]


def add_worker(actor, status):
    """A worker record of ``actor`` already in ``status`` (as if the spawner had moved it there)."""
    worker = workers.create_requested(actor, f"W{Worker.objects.count()}{status.name}")
    Worker.objects(db_id=worker.db_id).update_one(set__status=status.value)
    return workers.get(worker.db_id)


def fail_with_channel_error(*args, **kwargs):
    raise ChannelError("broker down")


def reload(actor):
    return actors.get(actor.db_id)


def status_of(ex):
    ex = executions.get_by_key(ex.db_id)
    return ex.status, ex.outcome


@pytest.fixture
def registered(mongo, broker):
    """An actor registered by alice, with its spawn command already taken off the channel."""
    actor = register_actor(ALICE, {"image": IMAGE, "name": "echo"}, broker)
    assert len(spawn_commands(broker)) == 1
    return actor


@pytest.fixture
def idle(mongo):
    """A READY actor of alice's with no worker at all (the cold-start case)."""
    actor = actors.create("dev", "alice", {"image": IMAGE})
    actors.set_status(actor.db_id, ActorStatus.READY)
    permissions.grant("dev", actor.db_id, "alice", Permission.UPDATE)
    return reload(actor)


def send(actor, broker, message="hello", sender=BOB, content_type="str", params=None):
    return submit_message(actor, sender, IncomingMessage(message, content_type, params or {}), broker, API)


# -- register_actor --------------------------------------------------------------------------


def test_register_creates_a_submitted_actor_owned_and_updatable_by_the_caller(mongo, broker):
    actor = register_actor(ALICE, {"image": IMAGE, "name": "echo"}, broker)

    stored = reload(actor)
    assert stored.db_id == f"dev_{actor.actor_id}"
    assert (stored.owner, stored.tenant, stored.image, stored.name) == ("alice", "dev", IMAGE, "echo")
    assert (stored.status, stored.revision) == (ActorStatus.SUBMITTED.value, 1)
    assert permissions.level_of(ALICE, actor.db_id) == Permission.UPDATE
    assert permissions.level_of(BOB, actor.db_id) == Permission.NONE


def test_register_requests_a_worker_and_sends_its_spawn_command(mongo, broker):
    actor = register_actor(ALICE, {"image": IMAGE}, broker)

    [worker] = workers.list_for_actor(actor.db_id)
    assert (worker.status, worker.image, worker.revision) == (WorkerStatus.REQUESTED.value, IMAGE, 1)
    assert spawn_commands(broker) == [
        SpawnCommand(
            actor_dbid=actor.db_id,
            worker_id=worker.worker_id,
            image=IMAGE,
            revision=1,
            tenant="dev",
            stop_existing=False,
        )
    ]


def test_register_sends_the_spawn_command_on_the_actors_queue(mongo, broker):
    register_actor(ALICE, {"image": IMAGE, "queue": "special"}, broker)

    assert len(spawn_commands(broker, "special")) == 1
    assert spawn_commands(broker, "default") == []


def test_register_leaves_nothing_behind_when_the_spawn_command_cannot_be_sent(mongo, broker, monkeypatch):
    monkeypatch.setattr(CommandChannel, "send_spawn", fail_with_channel_error)

    with pytest.raises(ChannelError, match="broker down"):
        register_actor(ALICE, {"image": IMAGE}, broker)

    assert Actor.objects.count() == 0
    assert PermissionRecord.objects.count() == 0
    assert Worker.objects.count() == 0


# -- update_actor ----------------------------------------------------------------------------


def test_update_with_the_same_image_keeps_the_revision_and_requests_no_worker(registered, broker):
    actors.set_status(registered.db_id, ActorStatus.READY)
    actor = reload(registered)

    update_actor(ALICE, actor, {"image": IMAGE, "description": "new words"}, False, broker)

    stored = reload(actor)
    assert (stored.revision, stored.status, stored.description) == (1, ActorStatus.READY.value, "new words")
    assert len(workers.list_for_actor(actor.db_id)) == 1  # only the one from registration
    assert spawn_commands(broker) == []


@pytest.mark.parametrize(
    "values, force",
    [({"image": "abaco/echo:2"}, False), ({"image": IMAGE}, True)],
    ids=["new-image", "force"],
)
def test_a_new_revision_requests_a_worker_that_replaces_the_old_ones(registered, broker, values, force):
    actors.fail(registered.db_id, "image could not be pulled")
    actor = reload(registered)

    update_actor(ALICE, actor, values, force, broker)

    stored = reload(actor)
    assert (stored.revision, stored.status, stored.status_message) == (2, ActorStatus.SUBMITTED.value, "")
    [cmd] = spawn_commands(broker)
    assert (cmd.revision, cmd.image, cmd.stop_existing) == (2, values["image"], True)
    new = workers.get_for_actor(actor.db_id, cmd.worker_id)
    assert (new.status, new.revision, new.image) == (WorkerStatus.REQUESTED.value, 2, values["image"])


def test_a_stateful_actor_cannot_become_stateless(mongo, broker):
    actor = register_actor(ALICE, {"image": IMAGE, "stateless": False}, broker)
    spawn_commands(broker)

    with pytest.raises(ValidationError, match="stateless"):
        update_actor(ALICE, actor, {"image": "abaco/echo:2", "stateless": True}, True, broker)

    stored = reload(actor)
    assert (stored.stateless, stored.image, stored.revision) == (False, IMAGE, 1)
    assert spawn_commands(broker) == []


def test_a_stateful_actor_may_stay_stateful(mongo, broker):
    actor = register_actor(ALICE, {"image": IMAGE, "stateless": False}, broker)

    update_actor(ALICE, actor, {"image": IMAGE, "stateless": False, "description": "d"}, False, broker)

    assert reload(actor).description == "d"


def test_an_updater_other_than_the_owner_is_granted_update_and_the_owner_stays(registered, broker):
    permissions.grant("dev", registered.db_id, "bob", Permission.UPDATE)

    update_actor(BOB, registered, {"image": "abaco/echo:2"}, False, broker)
    update_actor(ROOT, reload(registered), {"image": "abaco/echo:3"}, False, broker)

    levels = {r.user: r.level for r in PermissionRecord.objects(object_id=registered.db_id)}
    assert levels == {"alice": "UPDATE", "bob": "UPDATE", "root": "UPDATE"}
    stored = reload(registered)
    assert (stored.owner, stored.image, stored.revision) == ("alice", "abaco/echo:3", 3)


def test_an_update_does_not_revive_an_actor_being_deleted(registered, broker):
    actors.set_status(registered.db_id, ActorStatus.SHUTTING_DOWN)  # a DELETE is under way (or failed half-way)
    actor = reload(registered)

    try:
        update_actor(ALICE, actor, {"image": "abaco/echo:2"}, False, broker)
    except Conflict:
        pass  # refusing the update is as good as ignoring its revision

    assert reload(actor).status == ActorStatus.SHUTTING_DOWN.value
    assert spawn_commands(broker) == []


def test_the_owner_updating_adds_no_grant(registered, broker):
    update_actor(ALICE, registered, {"image": "abaco/echo:2"}, False, broker)

    assert [r.user for r in PermissionRecord.objects(object_id=registered.db_id)] == ["alice"]


# -- delete_actor ----------------------------------------------------------------------------


@pytest.fixture
def populated(registered, broker):
    """The registered actor with workers in several states, executions, logs and mail."""
    actor = registered
    ready = add_worker(actor, WorkerStatus.READY)
    busy = add_worker(actor, WorkerStatus.BUSY)
    setup = add_worker(actor, WorkerStatus.SPAWNER_SETUP)
    waiting = send(actor, broker, "waiting")
    claimed = send(actor, broker, "claimed")
    executions.claim(claimed.db_id, busy.worker_id)
    logs.save(claimed.load(), "some output", None)
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    return {"actor": actor, "ready": ready, "busy": busy, "setup": setup, "waiting": waiting, "claimed": claimed}


def test_delete_marks_the_actor_shutting_down_before_stopping_workers(populated, broker, monkeypatch):
    actor = populated["actor"]
    seen = []
    original = registration.stop_workers

    def spy(actor_dbid, *args, **kwargs):
        seen.append(actors.get(actor_dbid).status)
        return original(actor_dbid, *args, **kwargs)

    monkeypatch.setattr(registration, "stop_workers", spy)

    delete_actor(actor, broker)

    assert seen == [ActorStatus.SHUTTING_DOWN.value]


def test_delete_stops_running_workers_and_drops_unstarted_ones(populated, broker):
    actor, ready, busy = populated["actor"], populated["ready"], populated["busy"]

    assert delete_actor(actor, broker) == 2

    remaining = {w.worker_id: w.status for w in Worker.objects(actor_dbid=actor.db_id)}
    assert remaining == {
        ready.worker_id: WorkerStatus.SHUTDOWN_REQUESTED.value,
        busy.worker_id: WorkerStatus.SHUTDOWN_REQUESTED.value,
    }
    assert worker_commands(broker, ready) == ["stop"]
    assert worker_commands(broker, busy) == ["stop"]
    assert worker_commands(broker, populated["setup"]) == []


def test_delete_removes_logs_mailbox_grants_and_the_actor(populated, broker, monkeypatch):
    actor = populated["actor"]
    deleted_queues = []
    original = Broker.delete

    def spy(self, queue):
        deleted_queues.append(queue.name)
        return original(self, queue)

    monkeypatch.setattr(Broker, "delete", spy)

    delete_actor(actor, broker)

    assert Log.objects(actor_dbid=actor.db_id).count() == 0
    assert deleted_queues == [MailboxChannel(broker, actor.db_id).queue.name]
    assert PermissionRecord.objects(object_id=actor.db_id).count() == 0
    assert actors.get(actor.db_id) is None


def test_delete_ends_unclaimed_executions_but_leaves_claimed_ones(populated, broker):
    delete_actor(populated["actor"], broker)

    waiting = executions.get_by_key(populated["waiting"].db_id)
    assert (waiting.status, waiting.outcome) == (ExecutionStatus.ERROR.value, ExecutionOutcome.NOT_STARTED.value)
    assert waiting.status_message == "The actor was deleted."
    assert waiting.finish_time is not None
    assert status_of(populated["claimed"]) == (ExecutionStatus.SUBMITTED.value, None)


# -- submit_message --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [ActorStatus.SHUTTING_DOWN, ActorStatus.ERROR])
def test_an_actor_being_deleted_or_in_error_takes_no_message(registered, broker, status):
    actors.set_status(registered.db_id, status, "image could not be pulled")

    with pytest.raises(Conflict) as caught:
        send(reload(registered), broker)

    assert caught.value.http_status == 409
    assert registered.actor_id in caught.value.message
    assert Execution.objects.count() == 0
    assert mailbox(broker, registered) == []


def test_the_error_conflict_says_why_the_actor_failed(registered, broker):
    actors.fail(registered.db_id, "image could not be pulled")

    with pytest.raises(Conflict, match="image could not be pulled"):
        send(reload(registered), broker)


def test_submit_records_a_submitted_execution(registered, broker):
    ex = send(registered, broker, {"k": [1, 2]}, content_type="application/json", params={"n": "3"})

    stored = executions.get(registered.db_id, ex.execution_id)
    assert stored.status == ExecutionStatus.SUBMITTED.value
    assert (stored.executor, stored.tenant, stored.actor_dbid) == ("bob", "dev", registered.db_id)
    assert (stored.content_type, stored.message, stored.params) == ("application/json", {"k": [1, 2]}, {"n": "3"})
    assert (stored.worker_id, stored.outcome) == ("", None)
    assert stored.message_received_time is not None


def test_the_mailbox_message_carries_the_platform_environment(registered, broker):
    params = {"n": "3", "_abaco_username": "mallory", "_abaco_execution_id": "forged"}
    ex = send(registered, broker, "hi", params=params)

    [mail] = mailbox(broker, registered)
    assert (mail.execution_id, mail.content_type, mail.message, mail.executor) == (ex.execution_id, "str", "hi", "bob")
    assert mail.env == {
        "n": "3",
        "_abaco_username": "bob",
        "_abaco_api_server": API,
        "_abaco_jwt_header_name": "Authorization",
        "_abaco_execution_id": ex.execution_id,
        "_abaco_Content_Type": "str",
        "_abaco_actor_revision": "1",
    }


def accept_items(actor, broker, ids):
    box = MailboxChannel(broker, actor.db_id)
    return [
        (
            executions.new_record(actor, i, "bob", "str", f"m{i}", {}),
            box.outgoing(MailboxMessage(i, "str", f"m{i}", {}, "bob")),
        )
        for i in ids
    ]


def test_a_batch_of_accepted_messages_publishes_only_the_records_it_wrote(idle, broker):
    executions.submit(idle, "E2", "bob", "str", "first", {})  # E2 exists: its insert fails
    out = mailbox_workflow._accept_all(broker, accept_items(idle, broker, ["E1", "E2", "E3"]))

    assert out[0] is None and out[2] is None
    assert isinstance(out[1], NotUniqueError)
    assert [m.execution_id for m in mailbox(broker, idle)] == ["E1", "E3"]


def test_a_message_of_a_batch_the_broker_refused_is_unqueued_and_the_others_go_on(idle, broker, monkeypatch):
    real = broker.publish_batch
    monkeypatch.setattr(broker, "publish_batch", lambda items: [None, ChannelError("nack"), *real(items[2:])])
    out = mailbox_workflow._accept_all(broker, accept_items(idle, broker, ["E1", "E2", "E3"]))

    assert out[0] is None and out[2] is None
    assert isinstance(out[1], mailbox_workflow._Unqueued) and "nack" in str(out[1].error)
    assert executions.get(idle.db_id, "E2").status == ExecutionStatus.SUBMITTED  # submit_message ends it


def test_messages_sent_at_once_each_get_their_own_execution_queued_once(idle, broker):
    barrier = threading.Barrier(8)
    got: list[str] = []

    def one(i):
        with expecting_message(broker):
            barrier.wait(5)
            got.append(send(idle, broker, message=f"m{i}").execution_id)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(got)) == 8
    assert sorted(m.execution_id for m in mailbox(broker, idle)) == sorted(got)
    assert all(executions.get(idle.db_id, e).status == ExecutionStatus.SUBMITTED for e in got)


def test_message_env_uses_the_current_revision_and_content_type(registered):
    registered.revision = 7
    env = message_env(registered, ALICE, IncomingMessage([1], "application/json", {"a": "b"}), "EX", API)

    assert env["_abaco_actor_revision"] == "7"
    assert env["_abaco_Content_Type"] == "application/json"
    assert (env["a"], env["_abaco_username"], env["_abaco_execution_id"]) == ("b", "alice", "EX")


def test_a_message_that_cannot_be_queued_ends_its_execution(idle, broker, monkeypatch):
    # the broker refuses every publish (a nack, or a connection that failed): each item's outcome
    monkeypatch.setattr(broker, "publish_batch", lambda items: [ChannelError("broker down")] * len(items))

    with pytest.raises(ChannelError, match="broker down"):
        send(idle, broker)

    [ex] = Execution.objects(actor_dbid=idle.db_id)
    assert (ex.status, ex.outcome) == (ExecutionStatus.ERROR.value, ExecutionOutcome.NOT_STARTED.value)
    assert ex.status_message.startswith("message not queued")
    assert "broker down" in ex.status_message
    assert Worker.objects.count() == 0  # no worker is requested for a refused message


def test_a_failed_worker_request_keeps_the_message_queued(idle, broker, monkeypatch, caplog):
    monkeypatch.setattr(CommandChannel, "send_spawn", fail_with_channel_error)

    with caplog.at_level(logging.ERROR):
        ex = send(idle, broker, "keep me")

    assert status_of(ex) == (ExecutionStatus.SUBMITTED.value, None)
    assert [m.message for m in mailbox(broker, idle)] == ["keep me"]
    assert Worker.objects.count() == 0  # the unspawnable REQUESTED record was removed again
    assert "could not request a worker" in caplog.text


def test_a_cold_actor_gets_exactly_one_worker_for_two_quick_messages(idle, broker):
    send(idle, broker, "one")
    send(idle, broker, "two")

    [worker] = workers.list_for_actor(idle.db_id)
    assert [c.worker_id for c in spawn_commands(broker)] == [worker.worker_id]
    assert [m.message for m in mailbox(broker, idle)] == ["one", "two"]


def test_an_actor_with_a_worker_on_its_way_gets_no_other(registered, broker):
    send(registered, broker)

    assert len(workers.list_for_actor(registered.db_id)) == 1
    assert spawn_commands(broker) == []


# -- ensure_one_worker and stop_workers ------------------------------------------------------


def test_ensure_one_worker_claims_the_slot_once(idle, broker, monkeypatch):
    slot = ["s1"]
    monkeypatch.setattr(scaling, "claim_slot", lambda: slot[0])

    first = ensure_one_worker(idle, broker)
    assert first is not None
    workers.delete(first.db_id)
    assert ensure_one_worker(idle, broker) is None  # same slot: another caller already asked
    slot[0] = "s2"
    assert ensure_one_worker(idle, broker) is not None
    assert len(spawn_commands(broker)) == 2


@pytest.mark.parametrize("status", [ActorStatus.ERROR, ActorStatus.SHUTTING_DOWN])
def test_ensure_one_worker_requests_none_for_an_actor_that_takes_no_work(idle, broker, status):
    actors.set_status(idle.db_id, status)

    assert ensure_one_worker(reload(idle), broker) is None
    assert Worker.objects.count() == 0


def test_stop_workers_spares_the_excluded_worker(registered, broker):
    [requested] = workers.list_for_actor(registered.db_id)
    keep = add_worker(registered, WorkerStatus.READY)
    stop = add_worker(registered, WorkerStatus.READY)

    count = stop_workers(registered.db_id, broker, WorkerCommandName.STOP_NO_DELETE, exclude=keep.worker_id)

    assert count == 1
    assert workers.get(keep.db_id).status == WorkerStatus.READY.value
    assert workers.get(stop.db_id).status == WorkerStatus.SHUTDOWN_REQUESTED.value
    assert worker_commands(broker, keep) == []
    assert worker_commands(broker, stop) == ["stop-no-delete"]
    assert workers.get(requested.db_id) is None  # not started yet: deleted, not commanded
    assert worker_commands(broker, requested) == []


# -- wait_for_answer and purge_mailbox -------------------------------------------------------


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


def test_wait_for_answer_returns_the_logs_once_signalled(registered, broker, signals):
    ex = send(registered, broker)
    logs.save(ex.load(), "line 1\nline 2\n", None)
    signals.notify(ex.db_id)

    answer = wait_for_answer(ex, signals, 5)

    assert answer.body == b"line 1\nline 2\n" and not answer.is_result


def test_wait_for_answer_times_out_naming_the_execution(registered, broker, signals):
    ex = send(registered, broker)

    with pytest.raises(WaitTimeout) as caught:
        wait_for_answer(ex, signals, 0)

    assert caught.value.http_status == 504
    assert ex.execution_id in caught.value.message
    assert f"/actors/{registered.actor_id}/executions/{ex.execution_id}" in caught.value.message


def test_purge_mailbox_drops_messages_and_ends_their_executions(registered, broker):
    running = send(registered, broker, "taken")
    assert [m.execution_id for m in mailbox(broker, registered)] == [running.execution_id]  # a worker took it
    executions.claim(running.db_id, "W1")
    first, second = send(registered, broker, "a"), send(registered, broker, "b")

    assert purge_mailbox(registered, broker) == 2

    assert MailboxChannel(broker, registered.db_id).length() == 0
    for ex in (first, second):
        stored = executions.get_by_key(ex.db_id)
        assert (stored.status, stored.outcome) == (ExecutionStatus.ERROR.value, ExecutionOutcome.NOT_STARTED.value)
        assert stored.status_message == "The actor's mailbox was purged."
    assert status_of(running) == (ExecutionStatus.SUBMITTED.value, None)


# -- links ---------------------------------------------------------------------------------------
def _actor(broker, who=ALICE, **values):
    return register_actor(who, {"image": "abaco/echo:latest", **values}, broker)


def test_a_link_must_name_an_actor_the_caller_may_execute(mongo, broker):
    target = _actor(broker)
    assert _actor(broker, link=target.actor_id).link == target.actor_id
    with pytest.raises(NotFound):  # bob cannot see alice's actor: the same answer as a missing one
        _actor(broker, who=BOB, link=target.actor_id)
    permissions.grant("dev", target.db_id, "bob", Permission.READ)
    with pytest.raises(PermissionDenied):
        _actor(broker, who=BOB, link=target.actor_id)
    with pytest.raises(NotFound):
        _actor(broker, link="nope-not-there")


def test_an_actor_cannot_link_to_itself_or_close_a_cycle(mongo, broker):
    a = _actor(broker)
    b = _actor(broker, link=a.actor_id)
    c = _actor(broker, link=b.actor_id)  # c -> b -> a
    with pytest.raises(ValidationError, match="itself"):
        update_actor(ALICE, reload(a), {"link": a.actor_id}, False, broker)
    with pytest.raises(ValidationError, match="cycle of linked actors"):
        update_actor(ALICE, reload(a), {"link": c.actor_id}, False, broker)  # a -> c -> b -> a
    assert reload(a).link == ""
    update_actor(ALICE, reload(c), {"link": ""}, False, broker)
    update_actor(ALICE, reload(a), {"link": c.actor_id}, False, broker)  # a -> c: no cycle any more
    assert reload(a).link == c.actor_id


def test_a_broker_that_is_no_longer_used_is_not_kept_alive_by_its_batches():
    broker = memory_broker()
    mailbox_workflow._accepts(broker)
    gone = weakref.ref(broker)
    del broker
    gc.collect()
    assert gone() is None
