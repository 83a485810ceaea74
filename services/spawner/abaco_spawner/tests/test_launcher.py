import ctypes
import os
import time

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
