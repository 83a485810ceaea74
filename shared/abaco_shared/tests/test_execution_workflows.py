import pytest

from abaco_shared import actors, executions
from abaco_shared.auth import Principal
from abaco_shared.channels import WorkerChannel
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus, Role
from abaco_shared.errors import ValidationError
from abaco_shared.workflows.executions import add_manual_execution, force_quit

ALICE = Principal("alice", "dev", frozenset({Role.USER}))


@pytest.fixture
def actor(mongo):
    return actors.create("dev", "alice", {"image": "abaco/echo:latest"})


def test_force_quit_tells_the_worker_running_the_execution(actor, broker):
    ex = executions.submit(actor, "E1", "alice", "str", "hi", {})
    executions.claim(ex.db_id, "W1")
    executions.start(ex.db_id)
    message = force_quit(executions.get_by_key(ex.db_id), broker)
    assert message == "Issued force quit command for execution E1."
    body = broker.get(WorkerChannel(broker, "W1").queue, timeout=1)
    assert (body["command"], body["execution_id"]) == ("force_quit", "E1")


@pytest.mark.parametrize("claimed", [False, True])
def test_only_a_running_execution_can_be_force_quit(actor, broker, claimed):
    ex = executions.submit(actor, "E1", "alice", "str", "hi", {})
    if claimed:
        executions.claim(ex.db_id, "W1")
    with pytest.raises(ValidationError, match="only a RUNNING one"):
        force_quit(executions.get_by_key(ex.db_id), broker)


def test_manual_executions_count_in_the_totals(actor):
    ex = add_manual_execution(ALICE, actor, {"runtime": "5", "cpu": 7, "io": 9})
    assert (ex.status, ex.outcome, ex.executor) == (ExecutionStatus.COMPLETE, ExecutionOutcome.SUCCESS, "alice")
    totals = executions.totals(actor.db_id)
    assert (totals.count, totals.runtime, totals.cpu, totals.io) == (1, 5, 7, 9)


@pytest.mark.parametrize(
    "body", [{}, {"runtime": 1, "cpu": 1}, {"runtime": -1, "cpu": 1, "io": 1}, {"runtime": True, "cpu": 1, "io": 1}]
)
def test_manual_executions_need_three_integers(actor, body):
    with pytest.raises(ValidationError, match="non-negative integer"):
        add_manual_execution(ALICE, actor, body)
