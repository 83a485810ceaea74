"""Pre-forked API processes (``abaco_shared.prefork``): real forks, a real socket."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

from abaco_shared import prefork
from abaco_shared.runtime import EXIT_CONFIG, EXIT_OK


def _pids_file(tmp_path):
    return tmp_path / "pids"


def _run_in_thread(target):
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(target()), daemon=True)
    t.start()
    return t, result


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def in_child():
    """run_children in a forked helper process (it installs signal handlers and waits on its
    children), reporting through a pipe; yields a starter that returns (pid, read_lines)."""
    started: list[int] = []

    def start(count: int, child):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = prefork.run_children(count, child)
            finally:
                os._exit(code)
        started.append(pid)
        return pid

    yield start
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def test_every_child_accepts_on_the_one_socket(in_child):
    sock = prefork.listen("127.0.0.1", 0)
    port = sock.getsockname()[1]

    def child(index: int) -> int:
        while True:
            conn, _ = sock.accept()
            conn.sendall(str(os.getpid()).encode())
            conn.close()

    parent = in_child(2, child)
    _wait_for(lambda: len(_children_of(parent)) == 2)
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as c:
            seen.add(int(c.recv(32)))
    assert seen == set(_children_of(parent))
    sock.close()


def test_a_child_that_dies_is_replaced_and_sigterm_stops_all(in_child):
    parent = in_child(2, lambda index: signal.pause() or 0)
    _wait_for(lambda: len(_children_of(parent)) == 2)
    first = _children_of(parent)
    os.kill(first[0], signal.SIGKILL)
    _wait_for(lambda: len(_children_of(parent)) == 2 and first[0] not in _children_of(parent))
    os.kill(parent, signal.SIGTERM)
    _, status = os.waitpid(parent, 0)
    assert os.waitstatus_to_exitcode(status) == EXIT_OK


def test_a_configuration_error_stops_them_all_with_its_code(in_child):
    parent = in_child(3, lambda index: EXIT_CONFIG if index == 1 else (signal.pause() or 0))
    _, status = os.waitpid(parent, 0)
    assert os.waitstatus_to_exitcode(status) == EXIT_CONFIG


def test_children_die_with_their_parent(in_child):
    parent = in_child(2, lambda index: signal.pause() or 0)
    _wait_for(lambda: len(_children_of(parent)) == 2)
    children = _children_of(parent)
    os.kill(parent, signal.SIGKILL)
    os.waitpid(parent, 0)

    def gone(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().split(") ")[1][0] in "ZX"  # reaped by init, or a zombie on its way
        except FileNotFoundError:
            return True

    _wait_for(lambda: all(gone(p) for p in children))


def test_listen_waits_for_a_port_that_is_about_to_be_freed():
    first = prefork.listen("127.0.0.1", 0)
    port = first.getsockname()[1]
    threading.Timer(0.5, first.close).start()
    second = prefork.listen("127.0.0.1", port, retry_for=5)
    assert second.getsockname()[1] == port
    second.close()
    busy = prefork.listen("127.0.0.1", 0)
    with pytest.raises(OSError):
        prefork.listen("127.0.0.1", busy.getsockname()[1], retry_for=0.3)
    busy.close()


def test_cores_for_places_children_from_a_first_core_and_wraps_around(monkeypatch):
    monkeypatch.setattr(prefork.os, "sched_getaffinity", lambda pid: {5, 2, 9})  # a cpuset
    assert prefork.cores_for(2) == [2, 5]
    assert prefork.cores_for(2, first=2) == [9, 2]
    assert prefork.cores_for(4, first=1) == [5, 9, 2, 5]


def test_each_child_and_its_threads_run_on_its_core_only(tmp_path):
    allowed = sorted(os.sched_getaffinity(0))
    cores = prefork.cores_for(2, first=1)

    def child(index: int) -> int:
        seen = []
        t = threading.Thread(target=lambda: seen.append(sorted(os.sched_getaffinity(0))))
        t.start()
        t.join()
        (tmp_path / f"child{index}").write_text(f"{sorted(os.sched_getaffinity(0))} {seen[0]}")
        signal.pause()
        return 0

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = prefork.run_children(2, child, cores)
        finally:
            os._exit(code)
    try:
        _wait_for(lambda: all((tmp_path / f"child{i}").exists() for i in range(2)))
        for i in range(2):
            assert (tmp_path / f"child{i}").read_text() == f"{[cores[i]]} {[cores[i]]}"
        assert cores == [allowed[1 % len(allowed)], allowed[2 % len(allowed)]]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.parametrize(
    ("files", "capped"),
    [
        ({"cpu.max": "max 100000\n"}, False),
        ({"cpu.max": "150000 100000\n"}, True),
        ({"cfs_quota_us": "-1\n"}, False),
        ({"cfs_quota_us": "50000\n"}, True),
        ({}, False),  # no cgroup file: nothing caps it
    ],
)
def test_a_cgroup_cpu_limit_is_noticed(tmp_path, files, capped):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = (str(tmp_path / "cpu.max"), str(tmp_path / "cfs_quota_us"))
    assert prefork.cpu_quota(paths) is capped
