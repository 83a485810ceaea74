"""A worker forked by the zygote names itself after its worker id: its /proc environ is the
zygote's, so this is how a spawner resuming an interrupted start finds its process."""

from __future__ import annotations

import ctypes
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
