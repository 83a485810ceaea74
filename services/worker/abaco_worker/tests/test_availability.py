"""A worker's BUSY and READY: written at once for a lone execution, and for back-to-back ones only
at the start and end of the run of them (``availability.py``)."""

import pymongo.errors
import pytest

from abaco_shared import workers
from abaco_shared.enums import WorkerStatus
from abaco_shared.models import Worker
from abaco_shared.retry import Disposition
from abaco_shared.testing import FakeDocker, FakeRun
from abaco_worker import availability
from abaco_worker.availability import LAG, RETRY_AFTER, Availability

from .test_execution_runner import build_rig

pytestmark = pytest.mark.usefixtures("mongo")


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lazy_rig(tmp_path, docker: FakeDocker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client)
    rig.clock = Clock()
    rig.runner.availability = Availability(lazy=True, clock=rig.clock)
    return rig


def counting_writes(monkeypatch) -> list[WorkerStatus]:
    written: list[WorkerStatus] = []
    real = workers.set_status

    def set_status(worker_dbid, status, message="", **fields):
        written.append(status)
        return real(worker_dbid, status, message, **fields)

    monkeypatch.setattr(workers, "set_status", set_status)
    return written


def test_back_to_back_executions_write_busy_once_and_ready_once(lazy_rig, monkeypatch):
    rig, written = lazy_rig, counting_writes(monkeypatch)
    seen = []
    for n in range(3):
        rig.docker.runs.append(FakeRun(exit_code=0, during=lambda cid: seen.append(rig.worker().status)))
        assert rig.handle(rig.submit(f"E{n}")) is Disposition.ACK
    assert seen == [WorkerStatus.BUSY] * 3, "BUSY while each one ran"
    assert written == [WorkerStatus.BUSY] and rig.worker().status == WorkerStatus.BUSY
    assert rig.runner.availability.wait(1.0) == LAG  # the consumer waits a moment for a next one
    rig.runner.availability.flush()  # none came
    worker = rig.worker()
    assert written == [WorkerStatus.BUSY, WorkerStatus.READY] and worker.status == WorkerStatus.READY
    assert worker.last_execution_time is not None
    assert rig.runner.availability.wait(1.0) == 1.0
    rig.docker.runs.append(FakeRun(exit_code=0))
    rig.handle(rig.submit("E9"))  # after READY was written, the next one writes BUSY again
    assert written[-1] == WorkerStatus.BUSY


def test_without_lazy_each_execution_writes_both(tmp_path, docker, redis_client, monkeypatch):
    rig, written = build_rig(tmp_path, docker, redis_client), counting_writes(monkeypatch)
    for n in range(2):
        rig.docker.runs.append(FakeRun(exit_code=0))
        rig.handle(rig.submit(f"E{n}"))
    assert written == [WorkerStatus.BUSY, WorkerStatus.READY] * 2 and rig.worker().status == WorkerStatus.READY


def test_a_worker_asked_to_stop_meanwhile_is_not_made_ready(lazy_rig):
    rig = lazy_rig
    rig.docker.runs.append(FakeRun(exit_code=0))
    rig.handle(rig.submit())
    workers.set_status(rig.worker_dbid, WorkerStatus.SHUTTING_DOWN)  # the control channel's stop
    rig.runner.availability.flush()
    assert rig.worker().status == WorkerStatus.SHUTTING_DOWN


def test_a_ready_the_store_refuses_is_tried_again_later(lazy_rig, monkeypatch, caplog):
    rig = lazy_rig
    rig.docker.runs.append(FakeRun(exit_code=0))
    rig.handle(rig.submit())

    def down(*args, **kwargs):
        raise pymongo.errors.ServerSelectionTimeoutError("no MongoDB")

    real = workers.set_status
    monkeypatch.setattr(availability.workers, "set_status", down)
    rig.runner.availability.flush()
    assert "could not record the worker READY" in caplog.text
    assert rig.runner.availability.wait(10.0) == pytest.approx(RETRY_AFTER)
    monkeypatch.setattr(availability.workers, "set_status", real)
    rig.runner.availability.flush()  # not before RETRY_AFTER
    assert rig.worker().status == WorkerStatus.BUSY
    rig.clock.now += RETRY_AFTER
    rig.runner.availability.flush()
    assert rig.worker().status == WorkerStatus.READY


def test_another_failure_of_the_write_is_not_swallowed(lazy_rig, monkeypatch):
    rig = lazy_rig
    rig.docker.runs.append(FakeRun(exit_code=0))
    rig.handle(rig.submit())
    monkeypatch.setattr(availability.workers, "set_status", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        rig.runner.availability.flush()
    assert Worker.objects(db_id=rig.worker_dbid).first().status == WorkerStatus.BUSY
