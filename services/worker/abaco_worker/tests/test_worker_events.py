"""Where a worker publishes events: ACTOR_READY when it makes its actor READY, EXECUTION_STARTED
and EXECUTION_COMPLETE around each execution; only for actors with a link or a webhook."""

import os

import pytest

from abaco_shared import actors, executions, workers
from abaco_shared.channels import EventsChannel, SpawnerWorkerChannel
from abaco_shared.enums import WorkerStatus
from abaco_shared.errors import ChannelTimeout
from abaco_shared.events import EventPublisher
from abaco_shared.messages import EventMessage, MailboxMessage
from abaco_shared.models import Worker
from abaco_shared.retry import RetryPolicy
from abaco_shared.testing import FakeDelivery, FakeRun
from abaco_shared.waiters import CompletionSignals
from abaco_worker.cgroups import CgroupMeter
from abaco_worker.confinement import Confinement, Placement, RunLimits
from abaco_worker.execution import ExecutionRunner
from abaco_worker.state import WorkerState
from abaco_worker.worker import ActorWorker, Heartbeat

pytestmark = pytest.mark.usefixtures("mongo")

WID = "W1"


def _worker(actor, tmp_path, broker, redis_client, docker) -> ActorWorker:
    dbid = workers.create_requested(actor, WID).db_id
    for s in (WorkerStatus.SPAWNER_SETUP, WorkerStatus.CREATING_CONTAINER, WorkerStatus.UPDATING_STORE):
        workers.set_status(dbid, s)
    Worker.objects(db_id=dbid).update_one(set__host_id="local", set__pid=os.getpid())
    policy = RetryPolicy(max_attempts=3, retry_delay=0, max_failures=3, backoff_max=0)
    runner = ExecutionRunner(
        Placement(WID, "local", "inst1", "http://api", "host", f"/abaco/{WID}"),
        RunLimits(),
        Confinement(),
        docker,
        CgroupMeter(str(tmp_path), f"/abaco/{WID}"),
        WorkerState(),
        CompletionSignals(redis_client, "t:"),
        policy,
        events=EventPublisher(broker),
    )
    aw = ActorWorker(WID, actor.db_id, broker, runner, policy, Heartbeat(redis_client, "t:", WID), 0.05)
    SpawnerWorkerChannel(broker, WID).send_ready()
    assert aw.start()
    return aw


def _run_one(aw: ActorWorker) -> None:
    executions.submit(actors.get(aw.actor_dbid), "E1", "alice", "str", "hi", {})
    body = MailboxMessage(execution_id="E1", content_type="str", message="hi").to_dict()
    aw.on_message(body, FakeDelivery(body))


def _events(broker) -> list[dict]:
    out = []
    while True:
        try:
            out.append(EventMessage.from_dict(broker.get(EventsChannel(broker).queue, 0)).event)
        except ChannelTimeout:
            return out


def test_an_actor_with_a_webhook_gets_ready_started_and_complete_events(tmp_path, broker, redis_client, docker):
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest", "webhook": "https://example.org/h"})
    docker.runs.append(FakeRun(exit_code=3))
    _run_one(_worker(actor, tmp_path, broker, redis_client, docker))
    ready, started, complete = _events(broker)
    assert ready["event_type"] == "ACTOR_READY" and ready["actor_dbid"] == actor.db_id
    assert (started["event_type"], started["execution_id"]) == ("EXECUTION_STARTED", "E1")
    assert (complete["event_type"], complete["execution_id"], complete["exit_code"], complete["outcome"]) == (
        "EXECUTION_COMPLETE",
        "E1",
        3,
        "FAILED",
    )
    assert executions.get(actor.db_id, "E1").status == "COMPLETE"  # recorded before it was published


def test_an_actor_without_link_or_webhook_publishes_nothing(tmp_path, broker, redis_client, docker):
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    _run_one(_worker(actor, tmp_path, broker, redis_client, docker))
    assert _events(broker) == []
    assert executions.get(actor.db_id, "E1").exit_code == 0


def test_a_failed_publish_never_fails_the_execution(tmp_path, broker, redis_client, docker, monkeypatch):
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest", "webhook": "https://example.org/h"})
    aw = _worker(actor, tmp_path, broker, redis_client, docker)
    monkeypatch.setattr(aw.runner.events, "channel", None)  # every publish now raises inside
    _run_one(aw)
    assert executions.get(actor.db_id, "E1").status == "COMPLETE"
