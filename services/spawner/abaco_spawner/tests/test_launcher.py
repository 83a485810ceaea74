import ctypes
import os
import time

import pytest

from abaco_shared.runtime import pid_alive
from abaco_spawner import launcher


def test_launched_worker_is_detached_from_the_spawner(tmp_path, monkeypatch):
    script = tmp_path / "fake_worker.py"
    script.write_text(
        "import os, time; print('worker', os.environ['ABACO_WORKER_ID'], os.environ['ABACO_CLIENT_ID'], flush=True);"
        " time.sleep(30)\n"
    )
    monkeypatch.setattr(launcher, "_worker_argv", lambda: [os.environ.get("PYTHON", "python3"), str(script)])
    log = tmp_path / "logs" / "workers.log"
    # like supervisord under scripts/supervisord-launch.py: become the subreaper for the orphan
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    pid = launcher.launch_worker("W1", "dev_A", {"ABACO_CLIENT_ID": "dev_W1"}, log)
    try:
        assert pid_alive(pid)
        assert os.getsid(pid) != os.getsid(0), "the worker runs in its own session"
        deadline = time.monotonic() + 5
        while "worker W1" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "worker W1 dev_W1" in log.read_text()
        assert "ABACO_CLIENT_ID" not in os.environ  # the credential went to the worker only
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)  # re-parented to us, the subreaper: reaped, not a zombie
        ctypes.CDLL(None, use_errno=True).prctl(36, 0, 0, 0, 0)


def _wait_for(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _log_has(log, text):
    return lambda: log.exists() and text in log.read_text()


def test_the_zygote_forks_detached_workers_with_their_own_environment(tmp_path):
    # a worker that stops at once: its config file does not exist (EXIT_CONFIG), which it logs
    log = tmp_path / "logs" / "workers.log"
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # reap the orphans, as supervisord does
    zygote = launcher.ZygoteLauncher(log)
    try:
        first = zygote("W1", "dev_A", {"ABACO_CONFIG": str(tmp_path / "absent-1.toml")})
        second = zygote("W2", "dev_A", {"ABACO_CONFIG": str(tmp_path / "absent-2.toml")})
        assert first != second and zygote._proc is not None
        assert first != zygote._proc.pid and second != zygote._proc.pid
        _wait_for(_log_has(log, "absent-1.toml"))
        _wait_for(_log_has(log, "absent-2.toml"))
        assert "ABACO_CONFIG" not in os.environ  # each environment went to its worker only
        for pid in (first, second):
            _wait_for(lambda pid=pid: not pid_alive(pid) or os.waitpid(pid, os.WNOHANG)[0] == pid)
    finally:
        zygote.close()
        ctypes.CDLL(None, use_errno=True).prctl(36, 0, 0, 0, 0)


def test_a_dead_zygote_is_started_again(tmp_path):
    log = tmp_path / "workers.log"
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    zygote = launcher.ZygoteLauncher(log)
    try:
        zygote("W1", "dev_A", {"ABACO_CONFIG": str(tmp_path / "absent.toml")})
        old = zygote._proc
        old.kill()
        old.wait()
        assert zygote("W2", "dev_A", {"ABACO_CONFIG": str(tmp_path / "absent.toml")}) > 0
        assert zygote._proc is not old and zygote._proc.poll() is None
    finally:
        zygote.close()
        ctypes.CDLL(None, use_errno=True).prctl(36, 0, 0, 0, 0)


def test_when_the_zygote_cannot_answer_the_worker_starts_the_slow_way(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(launcher, "launch_worker", lambda *args: started.append(args) or 4242)
    zygote = launcher.ZygoteLauncher(tmp_path / "workers.log")
    monkeypatch.setattr(zygote, "_ask", lambda request: (_ for _ in ()).throw(launcher.LaunchError("refused")))

    assert zygote("W1", "dev_A", {"ABACO_CLIENT_ID": "c"}) == 4242
    assert started == [("W1", "dev_A", {"ABACO_CLIENT_ID": "c"}, tmp_path / "workers.log")]


def test_a_zygote_that_does_not_answer_fails_the_launch_without_a_second_try(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "launch_worker", lambda *args: 4242)
    zygote = launcher.ZygoteLauncher(tmp_path / "workers.log")
    monkeypatch.setattr(zygote, "_ask", lambda request: (_ for _ in ()).throw(launcher.ZygoteTimeout("slow")))

    with pytest.raises(launcher.LaunchError):
        zygote("W1", "dev_A", {})
