"""A fork bomb, for the resource-limit tests: baked into the image ``abaco/forkbomb``.

It forks children that only sleep until ``fork`` fails (EAGAIN under the container's pids limit),
prints how many it made and the error, and exits 1. It is bounded so that, on a host without a
pids limit, it cannot run away: at most ``FORKBOMB_MAX`` children (default 100000) and
``FORKBOMB_SECONDS`` seconds (default 60); children sleep at most that long, then exit.
``FORKBOMB_HOLD`` (seconds, default 0) keeps the pid table full that long after the failure, so a
test can check that the platform keeps serving while the bomb is at its limit.
"""

from __future__ import annotations

import os
import sys
import time

MAX_CHILDREN = int(os.environ.get("FORKBOMB_MAX", "100000"))
SECONDS = float(os.environ.get("FORKBOMB_SECONDS", "60"))
HOLD = float(os.environ.get("FORKBOMB_HOLD", "0"))


def main() -> int:
    deadline = time.monotonic() + SECONDS
    made = 0
    while made < MAX_CHILDREN and time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError as exc:  # BlockingIOError (EAGAIN) when the pids limit is reached
            print(f"forkbomb: fork failed after {made} children: {exc!r}", flush=True)
            time.sleep(max(0.0, min(HOLD, deadline - time.monotonic())))
            return 1
        if pid == 0:  # child: hold a pid slot, never print, never outlive the bound
            time.sleep(max(0.0, deadline - time.monotonic()))
            os._exit(0)
        made += 1
    print(f"forkbomb: made {made} children and fork never failed (no pids limit?)", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
