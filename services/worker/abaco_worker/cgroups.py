"""Exact CPU and block-I/O accounting from the cgroup v1 parent of a worker's containers.

Each worker runs its containers under ``--cgroup-parent=<parent>/<worker_id>``, one at a time. A
container's own cgroup vanishes when it exits, but the parent's hierarchical counters keep what it
used, so a before/after delta is exactly what one execution consumed (no Docker stats API).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupMeter", "Usage"]


@dataclass(frozen=True)
class Usage:
    cpu_ns: int = 0
    io_bytes: int = 0

    def __sub__(self, other: Usage) -> Usage:
        return Usage(max(0, self.cpu_ns - other.cpu_ns), max(0, self.io_bytes - other.io_bytes))


class CgroupMeter:
    def __init__(self, root: str, parent: str) -> None:
        rel = parent.strip("/")
        self.root = Path(root)
        self.rel = rel
        self.cpu_dir = Path(root) / "cpuacct" / rel
        self.blkio_dir = Path(root) / "blkio" / rel

    def read(self) -> Usage:
        return Usage(self._cpu(), self._io())

    def _cpu(self) -> int:
        try:
            return int((self.cpu_dir / "cpuacct.usage").read_text().strip())
        except (OSError, ValueError):
            return 0

    def _io(self) -> int:
        for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"):
            try:
                text = (self.blkio_dir / name).read_text()
            except OSError:
                continue
            total = 0
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in ("Read", "Write"):
                    total += int(parts[2])
            return total
        return 0

    def remove(self) -> None:
        """Remove the (empty) parent cgroups when the worker exits."""
        try:
            controllers = list(self.root.iterdir())
        except OSError:
            return
        for controller in controllers:
            try:
                os.rmdir(controller / self.rel)
            except OSError:
                pass
