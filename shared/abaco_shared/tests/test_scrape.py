"""One scrape: mailbox lengths (bounded), workers by status, executions by status and outcome,
for one tenant or all, and the Redis families beside them."""

import pytest

from abaco_shared import actors, executions, scrape, workers
from abaco_shared.channels import MailboxChannel
from abaco_shared.enums import ExecutionOutcome, WorkerStatus
from abaco_shared.executions import Completion
from abaco_shared.exposition import render
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Worker
from abaco_shared.testing.prometheus import parse, value_of


def worker(actor, worker_id, status):
    w = workers.create_requested(actor, worker_id)
    Worker.objects(db_id=w.db_id).update_one(set__status=status.value)


def queue(broker, actor, n):
    for i in range(n):
        MailboxChannel(broker, actor.db_id).put(MailboxMessage(execution_id=f"Q{i}", content_type="str", message="m"))


def finish(actor, execution_id, outcome=ExecutionOutcome.SUCCESS):
    executions.submit(actor, execution_id, "alice", "str", "hi", {})
    done = Completion(outcome, 0 if outcome is ExecutionOutcome.SUCCESS else 1, None, None, 10)
    executions.complete(executions.key_for(actor.db_id, execution_id), done)


@pytest.fixture
def platform(mongo, broker):
    busy = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    waiting = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    idle = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    other = actors.create("other", "eve", {"image": "abaco/echo:latest"})
    worker(busy, "W1", WorkerStatus.BUSY)
    worker(busy, "W2", WorkerStatus.READY)
    worker(other, "W9", WorkerStatus.READY)
    queue(broker, busy, 3)
    queue(broker, idle, 2)  # no worker and no unfinished execution: not looked at
    executions.submit(waiting, "E0", "alice", "str", "hi", {})  # unfinished, no worker
    queue(broker, waiting, 1)
    finish(busy, "E1")
    finish(busy, "E2", ExecutionOutcome.FAILED)
    finish(other, "E9")
    queue(broker, other, 4)
    return busy, waiting, idle, other


def collect(broker, redis_client, tenant, cap=100):
    text = render(scrape.collect(tenant, broker, redis_client, "t:", cap))
    return parse(text)


def test_a_tenant_sees_its_own_series(platform, broker, redis_client):
    busy, waiting, idle, other = platform

    families = collect(broker, redis_client, "dev")

    mailboxes = {dict(labels)["actor"]: v for _, labels, v in families["abaco_mailbox_messages"].samples}
    assert mailboxes == {busy.actor_id: 3, waiting.actor_id: 1}
    assert value_of(families, "abaco_mailbox_messages", actor=busy.actor_id, tenant="dev") == 3
    assert value_of(families, "abaco_workers", status="BUSY") == 1
    assert value_of(families, "abaco_workers", status="READY") == 1
    assert value_of(families, "abaco_workers", status="ERROR") == 0  # every status has a series
    assert value_of(families, "abaco_executions", status="COMPLETE", outcome="SUCCESS") == 1
    assert value_of(families, "abaco_executions", status="COMPLETE", outcome="FAILED") == 1
    assert value_of(families, "abaco_executions", status="SUBMITTED", outcome="") == 1
    assert value_of(families, "abaco_mailbox_actors_skipped") == 0
    assert value_of(families, "abaco_metrics_scrape_seconds") >= 0
    assert "abaco_autoscaler_decisions_total" in families


def test_every_tenant_for_an_operator(platform, broker, redis_client):
    *_, other = platform

    families = collect(broker, redis_client, None)

    assert value_of(families, "abaco_mailbox_messages", tenant="other", actor=other.actor_id) == 4
    assert value_of(families, "abaco_workers", status="READY") == 2
    assert value_of(families, "abaco_executions", status="COMPLETE", outcome="SUCCESS") == 2


def test_mailbox_reads_are_capped_and_the_rest_counted(platform, broker, redis_client):
    families = collect(broker, redis_client, "dev", cap=1)

    assert len(families["abaco_mailbox_messages"].samples) == 1
    assert value_of(families, "abaco_mailbox_actors_skipped") == 1


def test_mailbox_candidates_are_actors_with_workers_or_unfinished_executions(platform):
    busy, waiting, idle, other = platform
    assert scrape.mailbox_candidates("dev") == sorted([busy.db_id, waiting.db_id])
    assert scrape.mailbox_candidates(None) == sorted([busy.db_id, waiting.db_id, other.db_id])
