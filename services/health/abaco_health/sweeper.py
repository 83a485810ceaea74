"""A health job: remove the per-worker directories that outlived their worker.

Each worker keeps ``<socket_dir>/<worker_id>/`` (its executions' result sockets) and
``<binary_dir>/<worker_id>/`` (their binary payloads) and removes them when it exits. A worker
that was killed leaves them behind (reference 3.4: health deletes fifo and socket directories whose
names are not live worker ids). A directory goes once no worker record has its name and it has
not been touched for ``min_age`` seconds (a worker being started writes its directory only after
its record exists, so a young directory is never taken for a leftover).

Every health process on a machine may run it (two "hosts" may share one data directory): a record
of any host keeps its directory.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from abaco_shared import workers
from abaco_shared.outages import Outage, store_of

__all__ = ["DirSweeper", "worker_exists"]

log = logging.getLogger(__name__)


def worker_exists(worker_id: str) -> bool:
    return workers.exists_with_id(worker_id)


class DirSweeper:
    def __init__(
        self,
        roots: Iterable[Path],
        min_age: float = 120.0,
        exists: Callable[[str], bool] = worker_exists,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.roots = [Path(r) for r in roots]
        self.min_age = min_age
        self.exists = exists
        self.clock = clock
        self.outage = Outage("health's directory sweep", logger=log)

    def run(self) -> int:
        """Remove leftover directories; how many went. A store outage ends the pass (logged once)."""
        removed = 0
        try:
            for root in self.roots:
                removed += self._sweep(root)
        except Exception as exc:
            if store_of(exc) is None:
                raise
            self.outage.failed(exc)
            return removed
        self.outage.ended()
        if removed:
            log.info("removed directories of workers that are gone", extra={"count": removed})
        return removed

    def _sweep(self, root: Path) -> int:
        try:
            entries = list(root.iterdir())
        except FileNotFoundError:
            return 0
        removed = 0
        now = self.clock()
        for entry in entries:
            try:
                if not entry.is_dir() or entry.is_symlink() or now - entry.stat().st_mtime < self.min_age:
                    continue
            except FileNotFoundError:
                continue
            if self.exists(entry.name):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        return removed
