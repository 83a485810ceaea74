"""What a worker would otherwise ask the Docker engine as it starts: the engine's API version
(docker-py's ``version="auto"`` is a round trip) and its cgroup driver and version (``/info``,
which the engine answers slowly). About 15 ms of each worker's start; the spawner asks once and
hands them to each worker it launches, in the worker's environment.

Both stay the same while the engine runs. A worker without them (started by hand, or by a
spawner that could not ask) asks the engine itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["EngineFacts", "ENV"]

ENV = "ABACO_ENGINE_FACTS"  # "<api version>,<cgroup driver>,<cgroup version>"


@dataclass(frozen=True)
class EngineFacts:
    api_version: str  # e.g. "1.41"
    cgroup_driver: str  # "cgroupfs" or "systemd"
    cgroup_version: int  # 1 or 2

    def env(self) -> dict[str, str]:
        return {ENV: f"{self.api_version},{self.cgroup_driver},{self.cgroup_version}"}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EngineFacts | None:
        """The facts a spawner handed over; None when there are none or they do not parse."""
        fields = env.get(ENV, "").split(",")
        if len(fields) != 3:
            return None
        api_version, driver, version = fields
        parts = api_version.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            return None
        if driver not in ("cgroupfs", "systemd") or version not in ("1", "2"):
            return None
        return cls(api_version, driver, int(version))
