"""The container backend: a narrow ``DockerApi`` protocol and its adapter over the Docker engine.

Daemons depend on the protocol only (tests give them ``abaco_shared.testing.FakeDocker``); a later
backend (a cluster engine, a warm-container pool) implements the same operations.

The adapter makes each execution's calls (create, start, wait, logs, inspect, remove) through
``enginehttp`` on a Unix socket (docker-py's ``requests`` machinery cost a worker half its CPU),
and the rest (pulls, info, listings) through the low-level ``docker.APIClient`` (the high-level
client inspects after every create, which costs a round trip).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

import docker
import docker.errors
import requests
import requests.exceptions

from .enginefacts import EngineFacts
from .enginehttp import (
    EngineHttp,
    EngineHttpError,
    EngineTimeout,
    container_path,
    demux,
    error_message,
    unix_socket_path,
)
from .errors import DockerError

__all__ = ["ContainerSpec", "ContainerResult", "DockerApi", "DockerEngine", "parse_docker_time"]

log = logging.getLogger(__name__)

DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


class _Default:
    """The engine's default timeout (None means no timeout at all)."""


DEFAULT = _Default()


@dataclass
class ContainerSpec:
    """One actor container. The defaults are the hardened ones: no capabilities, no new
    privileges; the runner fills in the user, limits and mounts from config."""

    image: str
    environment: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str = "host"
    cgroup_parent: str | None = None
    mem_limit: str | None = None
    nano_cpus: int | None = None
    max_run_time: int = -1  # seconds; -1 is unlimited
    user: str | None = None  # "uid:gid"; None runs as the image's USER
    pids_limit: int | None = None
    read_only: bool = False
    tmpfs: dict[str, str] = field(default_factory=dict)  # path -> mount options
    binds: list[str] = field(default_factory=list)  # "host:container:ro|rw"
    log_max_size: str | None = None  # Docker's own json log, capped
    privileged: bool = False  # privileged actors of privileged owners only
    cap_drop: list[str] = field(default_factory=lambda: ["ALL"])
    security_opt: list[str] = field(default_factory=lambda: ["no-new-privileges"])

    def host_config(self) -> dict[str, Any]:
        """Keyword arguments for the engine's host config (only what is set)."""
        config: dict[str, Any] = {"network_mode": self.network_mode, "cgroup_parent": self.cgroup_parent}
        if self.mem_limit:
            config["mem_limit"] = self.mem_limit
            config["memswap_limit"] = self.mem_limit  # no swap beyond the memory limit
        if self.nano_cpus:
            config["nano_cpus"] = self.nano_cpus
        if self.pids_limit:
            config["pids_limit"] = self.pids_limit
        if self.read_only:
            config["read_only"] = True
        if self.tmpfs:
            config["tmpfs"] = dict(self.tmpfs)
        if self.binds:
            config["binds"] = list(self.binds)
        if self.log_max_size:
            config["log_config"] = {"type": "json-file", "config": {"max-size": self.log_max_size, "max-file": "1"}}
        if self.privileged:
            config["privileged"] = True
        else:
            config["cap_drop"] = list(self.cap_drop)
            config["security_opt"] = list(self.security_opt)
        return config


@dataclass
class ContainerResult:
    container_id: str
    exit_code: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    logs: str
    final_state: dict[str, Any]
    timed_out: bool = False

    @property
    def runtime_ms(self) -> int:
        if self.started_at is None or self.finished_at is None:
            return 0
        return max(0, int((self.finished_at - self.started_at).total_seconds() * 1000))


def parse_docker_time(value: str | None) -> dt.datetime | None:
    """Docker's RFC 3339 nanosecond timestamps as naive UTC datetimes (None for the zero time)."""
    if not value or value.startswith("0001-"):
        return None
    text = value.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6].ljust(6, '0')}"
    return dt.datetime.fromisoformat(text)


class DockerApi(Protocol):
    """What the spawner, worker and health need of a container engine.

    Every failure is raised as :class:`DockerError`; removing or stopping a container that is
    already gone is not a failure.
    """

    def ping(self) -> bool: ...

    def cgroup_info(self) -> tuple[str, int]:
        """The engine's cgroup driver (``cgroupfs``/``systemd``) and cgroup version (1/2)."""
        ...

    def image_present(self, image: str) -> bool: ...

    def pull(self, image: str, auth: dict[str, str] | None = None) -> None:
        """Pull ``image``; ``auth`` (``username``, ``password``) logs in to its registry."""
        ...

    def run(
        self,
        spec: ContainerSpec,
        on_started: Callable[[str], None] | None = None,
        max_log_length: int = 1_000_000,
    ) -> ContainerResult:
        """Create, start and wait for a container; its logs and final state. The exited container
        is left for :meth:`remove` (on a failure it is removed here)."""
        ...

    def logs(self, cid: str, max_log_length: int = 1_000_000) -> str:
        """A running container's output so far, cut at ``max_log_length`` bytes as :meth:`run` cuts it."""
        ...

    def inspect(self, cid: str) -> dict[str, Any] | None:
        """The engine's view of a container (``State``, ``Created``, ``Config``...); None when it is gone."""
        ...

    def wait(self, cid: str, timeout: float | None = None, max_log_length: int = 1_000_000) -> ContainerResult:
        """Wait for a container started earlier (by :meth:`run`, maybe in another process) to exit,
        stopping it after ``timeout`` seconds (``timed_out``); its logs and final state, as :meth:`run`
        returns them. The container is left for :meth:`remove`."""
        ...

    def stop(self, cid: str, grace: int = 10) -> None: ...

    def remove(self, cid: str) -> None: ...

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        """Containers (running or not) carrying ``label`` (``key=value``), as the engine lists them."""
        ...


def _one_pool_per_socket(api: docker.APIClient) -> None:
    """Keep the connections to a Unix-socket engine alive across calls.

    docker-py's Unix adapter keys its connection pools by the whole request URL, so every call
    naming a new container (create, start, wait, logs, inspect, remove) gets a new pool and a new
    connection, and 25 pools later the oldest are closed. Every URL here reaches the same socket:
    one pool serves them all, so a worker reuses its few connections for every execution.
    """
    adapter = api.adapters.get("http+docker://")
    get_connection = getattr(adapter, "get_connection", None)
    if adapter is None or get_connection is None or not hasattr(adapter, "socket_path"):
        return  # a TCP engine: requests' own adapter already pools by host
    adapter.get_connection = lambda url, proxies=None: get_connection("http+docker://localhost", proxies)


class DockerEngine:
    """:class:`DockerApi` over the Docker engine's HTTP API."""

    def __init__(
        self, base_url: str, timeout: int = 60, pull_timeout: int = 30, api_version: str | None = None
    ) -> None:
        # api_version: the engine's, when known (EngineFacts); else asked for (a round trip)
        self.api = docker.APIClient(base_url=base_url, timeout=timeout, version=api_version or "auto")
        # pulls get their own client: its read timeout is the most a pull may go without progress
        self.pull_api = docker.APIClient(base_url=base_url, timeout=pull_timeout, version=self.api.api_version)
        self.pull_timeout = pull_timeout
        # the engine's API is never reached through an HTTP proxy: without this, requests reads the
        # proxy variables of the environment again on every call (a tenth of a worker's CPU)
        self.api.trust_env = False
        _one_pool_per_socket(self.api)
        self.timeout = float(timeout)
        # each execution's calls (create, start, wait, logs, inspect, remove) skip requests
        socket_path = unix_socket_path(base_url)
        self.http = EngineHttp(socket_path, self.api.api_version) if socket_path else None

    def ping(self) -> bool:
        try:
            return bool(self.api.ping())
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False

    def facts(self) -> EngineFacts:
        """What a worker started on this engine need not ask it again (``enginefacts``)."""
        driver, version = self.cgroup_info()
        return EngineFacts(str(self.api.api_version), driver, version)

    def cgroup_info(self) -> tuple[str, int]:
        """The engine's cgroup driver (``cgroupfs``/``systemd``) and cgroup version (1/2)."""
        try:
            info = self.api.info()
        except DOCKER_ERRORS as exc:
            raise DockerError(f"cannot read the Docker engine's info: {exc}") from exc
        version = str(info.get("CgroupVersion") or "1")
        return str(info.get("CgroupDriver") or "cgroupfs"), 2 if version == "2" else 1

    def image_present(self, image: str) -> bool:
        try:
            self.api.inspect_image(image)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise DockerError(f"cannot inspect image {image}: {exc.explanation}") from exc

    def pull(self, image: str, auth: dict[str, str] | None = None) -> None:
        """Pull ``image``, streaming the engine's progress: a pull that shows no progress for
        ``pull_timeout`` seconds (a registry that never answers) fails instead of hanging."""
        try:
            for event in self.pull_api.pull(image, stream=True, decode=True, auth_config=auth):
                if isinstance(event, dict) and event.get("error"):
                    raise DockerError(f"cannot pull image {image}: {event['error']}")
        except requests.exceptions.ReadTimeout:
            raise DockerError(f"cannot pull image {image}: no progress for {self.pull_timeout} s") from None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise DockerError(f"cannot pull image {image}: no progress for {self.pull_timeout} s") from None
            raise DockerError(f"cannot pull image {image}: {exc}") from exc
        except DOCKER_ERRORS as exc:
            raise DockerError(f"cannot pull image {image}: {exc}") from exc

    def run(
        self,
        spec: ContainerSpec,
        on_started: Callable[[str], None] | None = None,
        max_log_length: int = 1_000_000,
    ) -> ContainerResult:
        """Create, start and wait for a container; collect its logs and final state.

        The exited container is left for the caller to :meth:`remove` once the result is recorded
        (removal costs milliseconds that need not delay the execution's completion); on any
        failure it is removed here.
        """
        cid = self.create(spec)
        try:
            try:
                self._call("POST", container_path(cid, "start"))
            except EngineHttpError as exc:
                raise DockerError(f"cannot start a container of {spec.image}: {exc}") from exc
            if on_started is not None:
                on_started(cid)
            return self.wait(cid, spec.max_run_time if spec.max_run_time > 0 else None, max_log_length)
        except BaseException:
            self.remove(cid)
            raise

    def wait(self, cid: str, timeout: float | None = None, max_log_length: int = 1_000_000) -> ContainerResult:
        """Wait for a started container to exit (stopped after ``timeout`` seconds: ``timed_out``);
        its exit code, logs and final state. It is left for :meth:`remove`."""
        timed_out = False
        try:
            status = self._call("POST", container_path(cid, "wait"), timeout=timeout)
        except EngineTimeout:
            if timeout is None:
                raise DockerError(f"lost the container {cid[:12]} while waiting: no answer") from None
            timed_out = True
            self.stop(cid, grace=5)
            try:
                status = self._call("POST", container_path(cid, "wait"), timeout=60)
            except EngineHttpError as wait_exc:
                raise DockerError(f"container {cid[:12]} did not stop after its time limit") from wait_exc
        except EngineHttpError as exc:
            raise DockerError(f"lost the container {cid[:12]} while waiting: {exc}") from exc
        try:
            raw_logs = self._logs(cid, max_log_length)
            state = self._call("GET", container_path(cid, "json"))["State"]
        except EngineHttpError as exc:
            raise DockerError(f"cannot read the result of container {cid[:12]}: {exc}") from exc
        return ContainerResult(
            container_id=cid,
            exit_code=int((status or {}).get("StatusCode", state.get("ExitCode", -1))),
            started_at=parse_docker_time(state.get("StartedAt")),
            finished_at=parse_docker_time(state.get("FinishedAt")),
            logs=_truncate(raw_logs, max_log_length),
            final_state=state,
            timed_out=timed_out,
        )

    def inspect(self, cid: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("GET", container_path(cid, "json")))
        except EngineHttpError as exc:
            if exc.status == 404:
                return None
            raise DockerError(f"cannot inspect container {cid[:12]}: {exc}") from exc

    def logs(self, cid: str, max_log_length: int = 1_000_000) -> str:
        """A running container's output so far, cut at ``max_log_length`` bytes as :meth:`run` cuts it."""
        try:
            return _truncate(self._logs(cid, max_log_length), max_log_length)
        except EngineHttpError as exc:
            raise DockerError(f"cannot read the logs of container {cid[:12]}: {exc}") from exc

    def _logs(self, cid: str, limit: int) -> bytes:
        """The container's output (stdout and stderr as they came), read as a stream and cut at
        ``limit`` bytes (plus one, to tell; ``limit`` <= 0: all of it). The containers made here
        never have a TTY (``create``), so the stream is always the multiplexed one."""
        params = {"stdout": 1, "stderr": 1, "timestamps": 0, "follow": 0, "tail": "all"}
        stream = self._stream("GET", container_path(cid, "logs"), params)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in demux(stream):
                chunks.append(chunk)
                size += len(chunk)
                if 0 < limit < size:
                    break
        finally:
            stream.close()  # early: its connection is closed rather than kept
        return b"".join(chunks)

    def create(self, spec: ContainerSpec) -> str:
        try:
            host_config = self.api.create_host_config(**spec.host_config())
            config = self.api.create_container_config(
                spec.image,
                None,
                environment=spec.environment,
                labels=spec.labels,
                host_config=host_config,
                user=spec.user,
            )
        except DOCKER_ERRORS as exc:
            raise DockerError(f"cannot create a container of {spec.image}: {exc}") from exc
        try:
            created = self._call("POST", "/containers/create", body=config)
        except EngineHttpError as exc:
            if exc.status == 404:
                raise DockerError(f"image {spec.image} is not present on this host") from exc
            raise DockerError(f"cannot create a container of {spec.image}: {exc}") from exc
        return str(created["Id"])

    def stop(self, cid: str, grace: int = 10) -> None:
        try:
            self._call("POST", container_path(cid, "stop"), params={"t": grace}, timeout=grace + self.timeout)
        except EngineHttpError as exc:
            if exc.status == 404:
                return
            raise DockerError(f"cannot stop container {cid[:12]}: {exc}") from exc

    def remove(self, cid: str) -> None:
        try:
            self._call("DELETE", container_path(cid), params={"force": 1})
        except EngineHttpError as exc:
            if exc.status != 404:
                log.warning("could not remove container %s: %s", cid[:12], exc)

    # -- engine calls --------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float | None | _Default = DEFAULT,
    ) -> Any:
        """One call of the engine's API and its JSON answer: through the lean client on a Unix
        socket (``enginehttp``), else through docker-py's session. Failures are EngineHttpError."""
        limit = self.timeout if isinstance(timeout, _Default) else timeout
        if self.http is not None:
            return self.http.call(method, path, params, body, limit)
        response = self._sdk_request(method, path, params, body, limit, stream=False)
        return response.json() if response.content else None

    def _stream(self, method: str, path: str, params: dict[str, Any]) -> Generator[bytes, None, None]:
        if self.http is not None:
            yield from self.http.stream(method, path, params, self.timeout)
            return
        response = self._sdk_request(method, path, params, None, self.timeout, stream=True)
        try:
            yield from response.iter_content(65536)
        except requests.exceptions.RequestException as exc:
            raise EngineHttpError(0, f"{method} {path}: {exc}") from exc
        finally:
            response.close()

    def _sdk_request(
        self, method: str, path: str, params: dict[str, Any] | None, body: Any, timeout: float | None, stream: bool
    ) -> requests.Response:
        url = f"{self.api.base_url}/v{self.api.api_version}{path}"
        try:
            response = self.api.request(method, url, params=params, json=body, timeout=timeout, stream=stream)
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
            if isinstance(exc, requests.exceptions.Timeout) or "timed out" in str(exc).lower():
                raise EngineTimeout(f"{method} {path}: no answer in time") from exc
            raise EngineHttpError(0, f"{method} {path}: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise EngineHttpError(0, f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise EngineHttpError(response.status_code, error_message(response.content, response.status_code))
        return response

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        try:
            return list(self.api.containers(all=True, filters={"label": label}))
        except DOCKER_ERRORS as exc:
            raise DockerError(f"cannot list containers labelled {label}: {exc}") from exc


def _truncate(raw: bytes, limit: int) -> str:
    """The output as text, cut at ``limit`` bytes (never inside a character) with a marker."""
    if limit <= 0 or len(raw) <= limit:
        return raw.decode("utf-8", errors="replace")
    return raw[:limit].decode("utf-8", errors="ignore") + "\n[LOG LIMIT EXCEEDED: output truncated]\n"
