#!/usr/bin/env python3
"""Start supervisord as a *child subreaper*, detached, in the background.

The spawner double-forks its workers, so they are orphans; on this kind of machine PID 1 reaps
no orphans, so an exited worker would stay a zombie. With PR_SET_CHILD_SUBREAPER set on
supervisord, orphans below it are reparented to supervisord instead of PID 1, and supervisord's
main loop reaps them (it logs "reaped unknown pid").

The flag survives execve() but is not inherited through fork(), so this launcher detaches first
(fork, setsid, fork), sets the flag in the final process and then execs supervisord in the
foreground (-n) in that same process.

Usage:
    scripts/supervisord-launch.py [--foreground] [-c CONF] [extra supervisord args...]

Defaults: CONF is <repo>/supervisord.conf and supervisord is <repo>/.venv/bin/supervisord.
stdout/stderr of supervisord go to <repo>/.data/logs/supervisord.out.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def set_child_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def detach(out_path: str) -> None:
    """Become a session leader's child with stdio on a log file; the caller returns at once."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)  # reap the intermediate child; no zombie left behind
        sys.exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)


def main(argv: list[str]) -> int:
    foreground = False
    conf = os.path.join(HERE, "supervisord.conf")
    extra: list[str] = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--foreground":
            foreground = True
        elif a in ("-c", "--configuration"):
            conf = os.path.abspath(args.pop(0))
        else:
            extra.append(a)
    supervisord = os.environ.get("SUPERVISORD", os.path.join(HERE, ".venv", "bin", "supervisord"))
    if not os.access(supervisord, os.X_OK):
        print(f"supervisord-launch: {supervisord} not found; run scripts/install.sh", file=sys.stderr)
        return 1
    if not foreground:
        detach(os.path.join(HERE, ".data", "logs", "supervisord.out"))
    set_child_subreaper()
    os.chdir(HERE)
    os.execv(supervisord, [supervisord, "-n", "-c", conf, *extra])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
