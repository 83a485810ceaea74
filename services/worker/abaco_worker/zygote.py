"""``python -m abaco_worker.zygote``: a worker parent that has already imported everything a worker
needs, and forks one worker per request.

Starting ``python -m abaco_worker`` costs about 0.3 s of imports (and each worker then holds its
own copy of every module, ~45 MB). The spawner starts one zygote and asks it for each worker: a
fork is a few milliseconds, the new worker is READY as soon as it has connected to the stores,
and the pages of the imported modules stay shared with the zygote (``gc.freeze`` keeps the
collector from copying them).

Protocol, on the zygote's stdin and stdout: one JSON line per request, ``{"env": {...}, "log":
"<path>"}``; one JSON line per answer, ``{"pid": N}`` or ``{"error": "..."}``. The zygote holds no
connection and no thread (both would break in a fork); it exits when its stdin closes, that is
when the spawner that started it is gone. It also forks nothing for a spawner that is gone
(``--parent <pid>``: its parent is no longer that pid): a request still in the pipe of a
spawner killed as it asked must not start a worker that the restarted spawner, resuming that
start, cannot know of (it would start the worker a second time). Each worker is forked twice, into a new session, so
it is nobody's child here: it survives the zygote and the spawner, and the nearest subreaper
(supervisord) reaps it, as it does a worker started the slow way (``abaco_spawner.launcher``).
The request's environment (with the worker's clientg credential) goes to that worker only.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import sys
from typing import IO, Any

from abaco_shared.config import resolve_types

from . import main as worker_main

__all__ = ["serve", "spawn"]

EXIT_FAILED_START = 70
EXIT_PARENT_GONE = 71

# modules the libraries import only when they first connect (kombu's AMQP transport, pymongo's
# authentication) or first dereference: imported once here, not again in every worker after its
# fork (about 10 ms of each worker's start, and pages each worker would hold a copy of)
LAZY_IMPORTS = (
    "kombu.transport.pyamqp",
    "kombu.utils.amq_manager",
    "pymongo.synchronous.auth",
    "pymongo.saslprep",
    "mongoengine.dereference",
)


def _become_worker(env: dict[str, str], log_path: str) -> None:
    """In the grandchild: the worker's own stdio, environment and signals, then its main()."""
    code = EXIT_FAILED_START
    try:
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(null_fd)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's own stdio, never closed)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(env)
        _name_process(env.get("ABACO_WORKER_ID", ""))
        gc.unfreeze()
        code = worker_main.main([])
    except BaseException as exc:  # a worker never returns into the zygote's loop
        print(f"abaco-worker: failed in its fork: {exc!r}", file=sys.stderr, flush=True)
    finally:
        os._exit(code if isinstance(code, int) else EXIT_FAILED_START)


def _name_process(worker_id: str) -> None:
    """Name the process after its worker (``/proc/<pid>/comm``): its ``/proc/<pid>/environ`` is
    the zygote's, so this is how a spawner resuming an interrupted start finds it."""
    if not worker_id:
        return
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(worker_id[:15])
    except OSError:
        pass  # not Linux, or no /proc: such a start is found by its recorded pid only


def spawn(env: dict[str, str], log_path: str) -> int:
    """Fork a detached worker with ``env``; its pid."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # the intermediate child: a new session, then the worker, then gone
        try:
            os.close(read_end)
            os.setsid()
            worker = os.fork()
            if worker:
                os.write(write_end, str(worker).encode())
                os._exit(0)
            os.close(write_end)
            _become_worker(env, log_path)
        finally:
            os._exit(EXIT_FAILED_START)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(child, 0)
    if not answer:
        raise OSError("the worker's fork did not start")
    return int(answer)


def _answer(out: IO[str], body: dict[str, Any]) -> None:
    out.write(json.dumps(body) + "\n")
    out.flush()


def serve(inp: IO[str], out: IO[str], parent: int = 0) -> int:
    """Answer spawn requests until ``inp`` ends, or until the process ``parent`` (when given)
    is no longer this one's parent."""
    for name in LAZY_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:  # another version of the library: its workers import what they need
            pass
    resolve_types()  # each worker loads its config
    gc.collect()
    gc.freeze()  # what is imported now stays shared with every fork
    for line in inp:
        if parent and os.getppid() != parent:
            print(f"abaco-worker zygote: spawner {parent} is gone; forking nothing more", file=sys.stderr, flush=True)
            return EXIT_PARENT_GONE
        try:
            request = json.loads(line)
            env, log_path = request["env"], request["log"]
            if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
                raise ValueError("env must map names to strings")
            _answer(out, {"pid": spawn({str(k): v for k, v in env.items()}, str(log_path))})
        except (ValueError, KeyError, TypeError, OSError) as exc:
            _answer(out, {"error": f"{type(exc).__name__}: {exc}"})
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    parent = int(args[1]) if len(args) == 2 and args[0] == "--parent" and args[1].isdigit() else 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the spawner's Ctrl-C is for the spawner
    return serve(sys.stdin, sys.stdout, parent)


if __name__ == "__main__":
    sys.exit(main())
