"""A worker forked by the zygote names itself after its worker id: its /proc environ is the
zygote's, so this is how a spawner resuming an interrupted start finds its process."""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import signal
import time

from abaco_shared.runtime import worker_process
from abaco_worker import zygote

PR_SET_CHILD_SUBREAPER = 36


def test_a_forked_worker_is_found_by_its_worker_id(tmp_path, monkeypatch):
    monkeypatch.setattr(zygote.worker_main, "main", lambda argv: time.sleep(30) or 0)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # the detached worker is re-parented to us
    pid = zygote.spawn({"ABACO_WORKER_ID": "W-zygote-1", "PATH": "/usr/bin:/bin"}, str(tmp_path / "w.log"))
    try:
        deadline = time.monotonic() + 5
        while worker_process("W-zygote-1") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker_process("W-zygote-1") == pid
        assert worker_process("W-zygote-1", pid) == pid
        assert worker_process("W-other", pid) is None
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def test_a_request_left_by_a_spawner_that_is_gone_forks_nothing(monkeypatch):
    import io

    forked = []
    monkeypatch.setattr(zygote, "spawn", lambda env, log: forked.append(env) or 4242)
    request = '{"env": {"ABACO_WORKER_ID": "W1"}, "log": "/dev/null"}\n'
    out = io.StringIO()
    assert zygote.serve(io.StringIO(request), out, parent=os.getppid()) == 0  # its spawner: served
    assert forked and out.getvalue() == '{"pid": 4242}\n'
    forked.clear()
    out = io.StringIO()
    gone = zygote.serve(io.StringIO(request * 2), out, parent=os.getppid() + 1_000_000)  # no longer its parent
    assert gone == zygote.EXIT_PARENT_GONE and not forked and out.getvalue() == ""
    gc.unfreeze()  # serve() froze this test process's objects, as it does a zygote's


def test_what_the_zygote_imports_ahead_exists_in_the_pinned_libraries():
    # a name a library no longer has is skipped by serve(): each worker would import it again
    for name in zygote.LAZY_IMPORTS:
        importlib.import_module(name)
