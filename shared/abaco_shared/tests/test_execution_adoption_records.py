"""Records of an adopted execution: taken over once, without an attempt; ended exactly once."""

import pytest

from abaco_shared import actors, executions
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus
from abaco_shared.executions import Completion

pytestmark = pytest.mark.usefixtures("mongo")


@pytest.fixture
def ex_dbid():
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    ex = executions.submit(actor, "E1", "alice", "str", "hi", {})
    executions.claim(ex.db_id, "W-dead")
    executions.start(ex.db_id)
    return ex.db_id


def done(exit_code=0):
    return Completion(ExecutionOutcome.SUCCESS, exit_code, None, None, 10, cpu_ns=None, io_bytes=None)


def test_adopt_takes_the_execution_over_once_without_counting_an_attempt(ex_dbid):
    adopted = executions.adopt(ex_dbid, "W-dead", "W2")
    assert adopted is not None and adopted.worker_id == "W2" and adopted.attempts == 1
    assert adopted.status == ExecutionStatus.RUNNING
    assert executions.adopt(ex_dbid, "W-dead", "W3") is None, "taken already"


def test_a_terminal_execution_is_not_adopted(ex_dbid):
    assert executions.complete(ex_dbid, done())
    assert executions.adopt(ex_dbid, "W-dead", "W2") is None


def test_complete_records_once_and_keeps_null_usage(ex_dbid):
    assert executions.complete(ex_dbid, done(0))
    assert not executions.complete(ex_dbid, done(5)), "an execution ends once"
    ex = executions.get_by_key(ex_dbid)
    assert ex.exit_code == 0 and ex.cpu is None and ex.io is None


def test_end_with_a_worker_id_ends_only_while_that_worker_has_it(ex_dbid):
    executions.adopt(ex_dbid, "W-dead", "W2")
    assert not executions.end(ex_dbid, ExecutionOutcome.TIMED_OUT, "x", worker_id="W-dead")
    assert executions.end(ex_dbid, ExecutionOutcome.TIMED_OUT, "x", worker_id="W2")
    assert executions.get_by_key(ex_dbid).status == ExecutionStatus.ERROR
