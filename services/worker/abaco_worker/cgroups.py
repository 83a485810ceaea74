"""Exact CPU and block-I/O accounting from the parent cgroup of a worker's containers.

Each worker runs its containers, one at a time, under a parent cgroup of its own
(``--cgroup-parent``). A container's cgroup vanishes when it exits, but the parent's hierarchical
counters keep what it used, so a before/after delta is exactly what one execution consumed, with
no call to the Docker stats API (which blocks for 1-2 s).

Both cgroup versions and both Docker cgroup drivers are handled:

| driver   | parent given to Docker   | v1 counters under <controller>/...     | v2 counters under ...        |
|----------|--------------------------|----------------------------------------|------------------------------|
| cgroupfs | /abaco/<wid>             | cpuacct/abaco/<wid>, blkio/abaco/<wid> | abaco/<wid>                  |
| systemd  | abaco-<wid>.slice        | cpuacct/abaco.slice/abaco-<wid>.slice  | abaco.slice/abaco-<wid>.slice|
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from abaco_shared.errors import ConfigError

__all__ = ["CgroupMeter", "Usage", "cgroup_layout"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    cpu_ns: int = 0
    io_bytes: int = 0

    def __sub__(self, other: Usage) -> Usage:
        return Usage(max(0, self.cpu_ns - other.cpu_ns), max(0, self.io_bytes - other.io_bytes))


class CgroupMeter:
    """Reads the counters of one parent cgroup (``rel`` below ``root``)."""

    def __init__(self, root: str, rel: str, version: int = 1, owned: bool = True) -> None:
        self.root = Path(root)
        self.rel = rel.strip("/")
        self.version = version
        self.owned = owned  # False under systemd, which owns (and removes) its slices

    def read(self) -> Usage:
        if self.version == 2:
            return Usage(self._v2_cpu(), self._v2_io())
        return Usage(self._v1_cpu(), self._v1_io())

    # -- cgroup v1 -----------------------------------------------------------------------------
    def _v1_cpu(self) -> int:
        try:
            return int((self.root / "cpuacct" / self.rel / "cpuacct.usage").read_text().strip())
        except (OSError, ValueError):
            return 0

    def _v1_io(self) -> int:
        for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"):
            try:
                text = (self.root / "blkio" / self.rel / name).read_text()
            except OSError:
                continue
            total = 0
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] in ("Read", "Write"):
                    total += int(parts[2])
            return total
        return 0

    # -- cgroup v2 -----------------------------------------------------------------------------
    def _v2_cpu(self) -> int:
        try:
            for line in (self.root / self.rel / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
        except (OSError, ValueError):
            pass
        return 0

    def _v2_io(self) -> int:
        try:
            text = (self.root / self.rel / "io.stat").read_text()
        except OSError:
            return 0
        total = 0
        for line in text.splitlines():
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key in ("rbytes", "wbytes") and value.isdigit():
                    total += int(value)
        return total

    def remove(self) -> None:
        """Remove the (empty) parent cgroups when the worker exits (cgroupfs driver only)."""
        if not self.owned:
            return
        dirs = [self.root / self.rel]
        if self.version == 1:
            try:
                dirs = [controller / self.rel for controller in self.root.iterdir()]
            except OSError:
                return
        for d in dirs:
            try:
                os.rmdir(d)
            except OSError:
                pass


def cgroup_layout(driver: str, version: int, base: str, worker_id: str, root: str) -> tuple[str, CgroupMeter]:
    """The ``--cgroup-parent`` for a worker's containers and the meter that reads it."""
    name = base.strip("/") or "abaco"
    if driver == "systemd":
        if "-" in name or "/" in name:
            raise ConfigError(f"worker.cgroup_parent {base!r}: under systemd it must be one word (no '-' or '/')")
        parent = f"{name}-{worker_id}.slice"
        return parent, CgroupMeter(root, f"{name}.slice/{parent}", version, owned=False)
    parent = f"/{name}/{worker_id}"
    return parent, CgroupMeter(root, parent, version)
