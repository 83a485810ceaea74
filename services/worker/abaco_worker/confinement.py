"""Where a worker's containers run (its placement), under which limits, and as whom with what
of the host (its confinement): the worker config's answers, applied to one actor."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from abaco_shared.config import WorkerConfig
from abaco_shared.models import Actor
from abaco_shared.mounts import render_mounts

__all__ = ["Placement", "RunLimits", "Confinement"]


@dataclass(frozen=True)
class Placement:
    """Where this worker's containers run and how they are labelled and metered."""

    worker_id: str
    host_id: str
    install_id: str
    api_server: str
    network: str
    cgroup_parent: str


@dataclass(frozen=True)
class RunLimits:
    """Per-container limits and the output cap, from the worker config."""

    max_run_time: int = -1  # platform default, seconds; -1 is unlimited
    max_run_time_limit: int = 7 * 86400  # the hard cap
    mem_limit: str = ""
    max_cpus: int = 0
    pids_limit: int = 0
    stop_grace: int = 10
    max_log_length: int = 1_000_000
    log_max_size: str = ""
    leave_containers: bool = False

    @classmethod
    def from_config(cls, wcfg: WorkerConfig) -> RunLimits:
        """The fields of this class, taken from the [worker] section of the same names."""
        return cls(**{f.name: getattr(wcfg, f.name) for f in dataclasses.fields(cls)})

    def run_time_for(self, actor: Actor) -> int:
        """The tightest of the actor's, the platform default and the hard cap (always bounded: the
        broker's consumer_timeout must stay above it, or the late ack would be refused)."""
        limits = [t for t in (actor.max_run_time, self.max_run_time) if t and t > 0]
        return min([*limits, self.max_run_time_limit])


@dataclass(frozen=True)
class Confinement:
    """Who an actor container runs as and what of the host it sees (privileged actors, which
    only privileged owners can register, get their own user, the extra mounts and the socket)."""

    uid: int = 65534
    gid: int = 65534
    read_only_root: bool = True
    tmp_size: str = "64m"
    mount_roots: tuple[str, ...] = ()
    global_mounts: tuple[str, ...] = ()
    privileged_mounts: tuple[str, ...] = ()
    docker_socket: str = "/var/run/docker.sock"

    @classmethod
    def from_config(cls, wcfg: WorkerConfig) -> Confinement:
        """The fields of this class, taken from the [worker] section of the same names."""
        return cls(**{f.name: getattr(wcfg, f.name) for f in dataclasses.fields(cls)})

    def user_for(self, actor: Actor) -> str | None:
        if actor.privileged or actor.use_container_uid:
            return None  # the image's own USER
        return f"{self.uid}:{self.gid}"

    def binds_for(self, actor: Actor) -> list[str]:
        templates = self.global_mounts + (self.privileged_mounts if actor.privileged else ())
        values = {"username": actor.owner, "tenant_id": actor.tenant, "actor_id": actor.actor_id}
        binds = [m.bind() for m in render_mounts(templates, self.mount_roots, **values)]
        if actor.privileged and self.docker_socket:
            binds.append(f"{self.docker_socket}:/var/run/docker.sock:rw")
        return binds

    def tmpfs(self) -> dict[str, str]:
        return {"/tmp": f"rw,nosuid,nodev,size={self.tmp_size}"} if self.read_only_root else {}
