"""Several processes of one API on one listening socket (``http.processes``).

A waitress process serves on one core at most (the GIL), so an API runs ``processes`` copies that
accept on the same socket, bound once by a parent before it forks. The parent only watches:

- it binds the socket (retrying while a killed predecessor's children release the port), then
  forks the children; each child builds its own connections (nothing is shared across a fork);
- a child that exits is replaced (after 1 s, so a child that cannot start does not spin); one that
  exits with EXIT_CONFIG stops them all with that code, since restarting cannot help;
- SIGTERM/SIGINT are passed on to the children, which stop as a lone process would, and the parent
  exits when they are gone;
- each child dies with its parent (PR_SET_PDEATHSIG), so a SIGKILL of the parent (supervisord's
  pid) frees the port at once and supervisord's restart binds it again;
- given ``cores`` (``cores_for``), child ``i`` runs on core ``cores[i]`` only, it and every thread
  it starts. Its threads then pass the GIL to each other on one core: unpinned, a thread that
  let the GIL go woke another on the other core, and the two fought for it (here, on two cores:
  about 15 % more POSTs per second with each messages process on a core of its own).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from .runtime import EXIT_CONFIG, EXIT_OK, EXIT_UNAVAILABLE

__all__ = ["listen", "run_children", "cores_for", "cpu_quota"]

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
BIND_RETRY_FOR = 10.0  # seconds: a killed parent's children may still hold the port for a moment
RESPAWN_DELAY = 1.0


def listen(host: str, port: int, backlog: int = 1024, retry_for: float = BIND_RETRY_FOR) -> socket.socket:
    """A listening TCP socket on ``host:port``, shared by every child forked after it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + retry_for
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(backlog)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl: nobody would kill us
        os._exit(EXIT_UNAVAILABLE)


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def cores_for(count: int, first: int = 0) -> list[int]:
    """A core for each of ``count`` children: the cores this process may run on, in order from
    the ``first``-th, wrapping around (two APIs of two processes each take cores 0-1 and 2-3 of
    four, and share 0-1 of two)."""
    allowed = sorted(os.sched_getaffinity(0))
    return [allowed[(first + i) % len(allowed)] for i in range(count)]


# where a cgroup says how much CPU time its processes may use (v2, then v1): "max" or -1 is none
_QUOTA_FILES = (
    "/sys/fs/cgroup/cpu.max",
    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
)


def cpu_quota(files: tuple[str, ...] = _QUOTA_FILES) -> bool:
    """This process's CPU time is capped by its cgroup (a container's CPU limit). Such a
    container usually sees every core of its host, as its neighbours do: pinning each one's API
    processes to the first cores would pile them up there, so the caller does not pin."""
    for path in files:
        try:
            with open(path) as fh:
                value = fh.read().split()[0]
        except (OSError, IndexError):
            continue
        return value not in ("max", "-1")
    return False


def _pin(core: int) -> None:
    """This process (its threads to come inherit it) on ``core`` only; a failure only costs speed."""
    try:
        os.sched_setaffinity(0, {core})
    except OSError as exc:
        log.warning("cannot keep this API process on core %d: %s", core, exc)


def _fork(child: Callable[[int], int], index: int, children: dict[int, int], cores: list[int] | None) -> None:
    """Fork ``child(index)`` and record its pid. Stop signals are blocked meanwhile: one that
    arrives between the fork and the record would miss the new child, and the child would run the
    parent's handler until it has its own (it unblocks them once they are the default)."""
    parent = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    pid = os.fork()
    if pid:
        children[pid] = index
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return
    code = EXIT_UNAVAILABLE
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        _die_with_parent(parent)
        if cores:
            _pin(cores[index % len(cores)])
        code = child(index)
    except BaseException:  # noqa: BLE001 - a child never returns into the parent's code
        log.exception("API process %d failed", index)
    finally:
        logging.shutdown()
        os._exit(code)


def run_children(count: int, child: Callable[[int], int], cores: list[int] | None = None) -> int:
    """Run ``child(index)`` in ``count`` forked processes until told to stop, child ``index`` on
    ``cores[index]`` when given; see the module."""
    stopping = False
    children: dict[int, int] = {}  # pid -> index

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(count):
        _fork(child, index, children, cores)
    log.info("serving with %d processes", count, extra={"pids": sorted(children)})
    code = EXIT_OK
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index = children.pop(pid)
        exit_code = os.waitstatus_to_exitcode(status)
        if stopping:
            continue
        if exit_code == EXIT_CONFIG:
            log.error("API process %d exited on a configuration error; stopping", index)
            code = EXIT_CONFIG
            stop(signal.SIGTERM, None)
            continue
        log.warning("API process %d (pid %d) exited with %d; starting another", index, pid, exit_code)
        time.sleep(RESPAWN_DELAY)
        if not stopping:
            _fork(child, index, children, cores)
    return code
