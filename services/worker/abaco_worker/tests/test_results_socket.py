"""The results socket: real Unix datagram sockets, the receiver thread, drain at close, bounds,
and the runner around a (fake) container that sends results while it runs."""

import os
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path

import pytest

from abaco_shared import actors, executions, results
from abaco_shared.containers import ContainerSpec
from abaco_shared.enums import ExecutionStatus
from abaco_shared.errors import ConfigError
from abaco_shared.results import MAX_DATAGRAM, Result
from abaco_shared.testing import FakeRun
from abaco_shared.waiters import CompletionSignals
from abaco_worker.results import CONTAINER_PATH, ResultLimits, ResultsReceiver, Tally

from .test_execution_runner import WID, build_rig

pytestmark = pytest.mark.usefixtures("mongo")


@pytest.fixture
def short_dir():
    """A socket directory short enough for a Unix socket path (pytest's tmp_path may not be)."""
    path = Path(tempfile.mkdtemp(prefix="abres", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "t:")


@pytest.fixture
def actor():
    return actors.create("dev", "alice", {"image": "abaco/echo:latest", "log_ex": 60})


@pytest.fixture
def receiver(short_dir, signals):
    r = ResultsReceiver(short_dir, WID, ResultLimits(max_results=5, max_bytes=100), signals)
    yield r
    r.shutdown()


def claimed(actor, ex_id="E1"):
    executions.submit(actor, ex_id, "alice", "str", "hi", {})
    return executions.claim(executions.key_for(actor.db_id, ex_id), WID)


def send(path: str, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        for data in datagrams:
            s.sendto(data, path)


def stored(ex_dbid: str) -> list[bytes]:
    return [bytes(r.data) for r in Result.objects(ex_dbid=ex_dbid).order_by("seq")]


def eventually(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


def test_datagrams_are_stored_in_order_while_the_container_runs(receiver, actor, signals):
    ex = claimed(actor)
    spec = ContainerSpec(image="abaco/echo:latest", environment={})
    inbox = receiver.open(actor, ex, spec)
    host_path = spec.binds[-1].split(":")[0]
    assert spec.binds[-1] == f"{host_path}:{CONTAINER_PATH}:rw"
    assert stat.S_IMODE(os.stat(host_path).st_mode) == 0o777 and stat.S_ISSOCK(os.stat(host_path).st_mode)

    send(host_path, b"one", b"two", b"three")
    eventually(lambda: len(stored(ex.db_id)) == 3)  # the receiver thread, before any close

    assert stored(ex.db_id) == [b"one", b"two", b"three"]
    assert signals.client.llen(signals.result_key_for(ex.db_id)) == 1  # the first one, once
    assert receiver.close(inbox) == ""
    assert not os.path.exists(host_path)
    assert Result.objects.get(db_id=results.key_for(ex.db_id, 0)).exp is not None  # log_ex


def test_close_drains_what_the_thread_has_not_read(receiver, actor):
    ex = claimed(actor)
    spec = ContainerSpec(image="abaco/echo:latest", environment={})
    inbox = receiver.open(actor, ex, spec)
    with inbox._lock:  # the thread cannot read meanwhile
        send(str(inbox.path), b"a", b"b")
        assert stored(ex.db_id) == []
        inbox._read(None)  # what close() does under the lock
    assert receiver.close(inbox) == "" and stored(ex.db_id) == [b"a", b"b"]


def test_an_execution_that_sends_nothing_stores_nothing_and_leaves_nothing(receiver, actor, signals):
    ex = claimed(actor)
    spec = ContainerSpec(image="abaco/echo:latest", environment={})
    inbox = receiver.open(actor, ex, spec)

    assert receiver.close(inbox) == ""
    assert Result.objects.count() == 0 and not inbox.path.exists()
    assert signals.client.exists(signals.result_key_for(ex.db_id)) == 0


def test_beyond_the_bounds_datagrams_are_dropped_counted_and_said(receiver, actor, caplog):
    ex = claimed(actor)
    inbox = receiver.open(actor, ex, ContainerSpec(image="x", environment={}))
    big = b"x" * (MAX_DATAGRAM + 1)
    with inbox._lock:
        send(str(inbox.path), b"1" * 40, b"2" * 40, b"3" * 40, big, b"4", b"5", b"6", b"7")
    note = receiver.close(inbox)

    # 100 bytes at most: 40+40 kept, the third 40 dropped; then 4 and 5 and 6 (count limit 5)
    assert stored(ex.db_id) == [b"1" * 40, b"2" * 40, b"4", b"5", b"6"]
    assert inbox.tally == Tally(stored=5, stored_bytes=83, over_limit=2, too_large=1)
    assert note == (
        "Results: 5 kept, 3 dropped (2 over the limit of 5 results or 100 bytes per execution; "
        "1 larger than 131072 bytes)."
    )
    assert sum("dropping results" in r.getMessage() for r in caplog.records) == 1  # one line, then the total


def test_a_result_the_store_refuses_is_counted_as_lost(receiver, actor, monkeypatch):
    from pymongo.errors import AutoReconnect

    def refuse(*args, **kwargs):
        raise AutoReconnect("down")

    monkeypatch.setattr(results, "store", refuse)
    ex = claimed(actor)
    inbox = receiver.open(actor, ex, ContainerSpec(image="x", environment={}))
    with inbox._lock:
        send(str(inbox.path), b"lost")
    assert "1 that could not be stored" in receiver.close(inbox)


def test_a_retried_execution_starts_with_no_results(receiver, actor):
    ex = claimed(actor)
    results.store(ex.db_id, actor.db_id, 0, b"from the first attempt")
    again = executions.claim(ex.db_id, WID)
    assert again.attempts == 2

    receiver.close(receiver.open(actor, again, ContainerSpec(image="x", environment={})))

    assert stored(ex.db_id) == []


def test_no_socket_when_it_cannot_be_made_and_the_execution_still_runs(short_dir, signals, actor):
    (short_dir / WID).write_text("a file where the directory should be")
    receiver = ResultsReceiver(short_dir, WID, ResultLimits(), signals)
    spec = ContainerSpec(image="x", environment={})

    assert receiver.open(actor, claimed(actor), spec) is None and spec.binds == []
    assert receiver.close(None) == ""
    receiver.shutdown()


def test_a_socket_dir_too_long_for_a_socket_path_is_a_config_error(signals):
    with pytest.raises(ConfigError, match="socket_dir"):
        ResultsReceiver("/" + "d" * 90, WID, ResultLimits(), signals)


def test_one_thread_for_every_execution_and_shutdown_removes_the_directory(receiver, actor, short_dir):
    assert receiver._thread is None  # nothing until the first execution
    threads = set()
    for n in range(3):
        ex = claimed(actor, f"E{n}")
        receiver.close(receiver.open(actor, ex, ContainerSpec(image="x", environment={})))
        threads.add(receiver._thread)
    [thread] = threads

    receiver.shutdown()

    assert not thread.is_alive() and not (short_dir / WID).exists()


# -- the runner ---------------------------------------------------------------------------------------


def test_the_runner_mounts_the_socket_and_completes_after_every_result(tmp_path, docker, redis_client, short_dir):
    rig = build_rig(tmp_path, docker, redis_client, actor_values={"log_ex": 60})
    rig.runner.results = ResultsReceiver(short_dir, WID, ResultLimits(max_results=2), rig.signals)
    seen: dict[str, object] = {}

    def container(cid: str) -> None:  # sends while it "runs"; the runner drains after it exits
        spec = docker.specs[-1]
        [host] = [b.split(":")[0] for b in spec.binds if b.endswith(f":{CONTAINER_PATH}:rw")]
        seen["status"] = rig.ex().status
        send(host, b"one", b"two", b"three")

    docker.runs.append(FakeRun(logs="sent\n", during=container))
    try:
        rig.handle(rig.submit())
    finally:
        rig.runner.results.shutdown()

    ex = rig.ex()
    assert ex.status == ExecutionStatus.COMPLETE.value and seen["status"] == ExecutionStatus.RUNNING.value
    assert stored(ex.db_id) == [b"one", b"two"]
    assert ex.status_message.startswith("Results: 2 kept, 1 dropped")
    assert not (short_dir / WID).exists()  # no socket left, and the directory went with shutdown
