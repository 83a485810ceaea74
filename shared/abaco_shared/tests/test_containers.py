"""DockerEngine over a fake docker.APIClient and engine HTTP client: what it calls, what it
returns, what it cleans up."""

import datetime as dt

import docker.errors
import pytest
import requests.exceptions

from abaco_shared.containers import ContainerResult, ContainerSpec, DockerEngine, _truncate, parse_docker_time
from abaco_shared.enginehttp import EngineHttpError, EngineTimeout
from abaco_shared.errors import DockerError

CID = "c0ffee" * 10 + "abcd"  # 64 hex characters, like a real container id
STATE = {
    "Status": "exited",
    "ExitCode": 0,
    "StartedAt": "2024-03-01T10:00:00.123456789Z",
    "FinishedAt": "2024-03-01T10:00:02.623456789Z",
}


def not_found(what="no such container"):
    return docker.errors.NotFound(what, explanation=what)


class FakeApi:
    """The docker.APIClient methods DockerEngine calls; ``fail`` maps a method name to an exception."""

    def __init__(self, logs=b"hello\n", state=None, status_code=0, images=("abaco/echo",)):
        self.calls = []
        self.fail = {}
        self.log_chunks = [logs] if isinstance(logs, bytes) else list(logs)
        self.state = dict(STATE if state is None else state)
        self.status_code = status_code
        self.images = set(images)
        self.wait_results = []  # exceptions or dicts for successive wait() calls
        self.streams = []

    def _record(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        if name in self.fail:
            raise self.fail[name]

    def names(self):
        return [name for name, _, _ in self.calls]

    def kwargs_of(self, name):
        return next(kw for n, _, kw in self.calls if n == name)

    def create_host_config(self, **kwargs):
        self._record("create_host_config", **kwargs)
        return {"HostConfig": kwargs}

    def create_container_config(self, image, command, environment=None, labels=None, host_config=None, user=None):
        config = {"Image": image, "Cmd": command, "Env": environment, "Labels": labels}
        return {**config, "HostConfig": host_config, "User": user}

    # -- the engine's HTTP API, as enginehttp.EngineHttp offers it: recorded under docker-py's names
    def call(self, method, path, params=None, body=None, timeout=60.0):
        parts = path.strip("/").split("/")  # containers, <id>, <action>
        action = (method, parts[2] if len(parts) > 2 else "")
        if (method, path) == ("POST", "/containers/create"):
            image = body["Image"]
            self._record(
                "create_container",
                image,
                environment=body["Env"],
                labels=body["Labels"],
                host_config=body["HostConfig"],
                user=body["User"],
            )
            if image not in self.images:
                raise EngineHttpError(404, f"No such image: {image}")
            return {"Id": CID, "Warnings": []}
        cid = parts[1]
        if action == ("POST", "start"):
            return self._record("start", cid)
        if action == ("POST", "wait"):
            self._record("wait", cid, timeout=timeout)
            if self.wait_results:
                result = self.wait_results.pop(0)
                if isinstance(result, BaseException):
                    raise result
                return result
            return {"StatusCode": self.status_code, "Error": None}
        if action == ("GET", "json"):
            self._record("inspect_container", cid)
            return {"Id": cid, "State": dict(self.state)}
        if action == ("POST", "stop"):
            return self._record("stop", cid, timeout=params["t"])
        if action == ("DELETE", ""):
            return self._record("remove_container", cid, force=bool(params.get("force")))
        raise AssertionError(f"unexpected call {method} {path}")

    def stream(self, method, path, params=None, timeout=60.0):
        assert (method, path.rsplit("/", 1)[-1]) == ("GET", "logs")
        self._record("logs", path.split("/")[2], stdout=bool(params["stdout"]), stderr=bool(params["stderr"]))
        fake = FakeStream(self.log_chunks)
        self.streams.append(fake)
        return fake.frames()

    def containers(self, all=False, filters=None):  # noqa: A002 - docker's own argument name
        self._record("containers", all=all, filters=filters)
        return [{"Id": CID, "Labels": {"abaco.worker": "W1"}}]

    def inspect_image(self, image):
        self._record("inspect_image", image)
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        return {"Id": "sha256:abc"}

    def pull(self, image, **kwargs):
        self._record("pull", image, **kwargs)
        self.images.add(image)
        return iter(self.pull_events)

    pull_events = ({"status": "Pulling from abaco/new"}, {"status": "Download complete"})

    def info(self):
        self._record("info")
        return self.info_result

    info_result = {"CgroupDriver": "systemd", "CgroupVersion": "2"}

    def ping(self):
        self._record("ping")
        return True


class FakeStream:
    """The engine's multiplexed log stream: each chunk one stdout frame, split in two reads."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.consumed = 0
        self.closed = False

    def frames(self):
        try:
            for chunk in self.chunks:
                self.consumed += 1
                frame = b"\x01\x00\x00\x00" + len(chunk).to_bytes(4, "big") + chunk
                yield frame[:5]
                yield frame[5:]
        finally:
            self.closed = True


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def engine(api):
    # DockerEngine.__init__ builds a docker.APIClient that asks a daemon for its API version: skip it
    eng = DockerEngine.__new__(DockerEngine)
    eng.api = api
    eng.pull_api = api
    eng.pull_timeout = 30
    eng.timeout = 60.0
    eng.http = api
    return eng


def spec(**kwargs):
    values = {"image": "abaco/echo", "environment": {"MSG": "hi"}, "labels": {"abaco.worker": "W1"}}
    values.update(kwargs)
    return ContainerSpec(**values)


# -- run -----------------------------------------------------------------------------------------


def test_run_happy_path(engine, api):
    started = []
    result = engine.run(
        spec(network_mode="abaco_net", cgroup_parent="/abaco/W1", mem_limit="512m", nano_cpus=500_000_000),
        on_started=lambda cid: started.append((cid, api.names()[-1])),
    )
    assert api.names() == ["create_host_config", "create_container", "start", "wait", "logs", "inspect_container"]
    assert api.kwargs_of("create_host_config") == {
        "network_mode": "abaco_net",
        "cgroup_parent": "/abaco/W1",
        "mem_limit": "512m",
        "memswap_limit": "512m",
        "nano_cpus": 500_000_000,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
    }
    _, args, kwargs = api.calls[1]
    assert args == ("abaco/echo",)
    assert kwargs["environment"] == {"MSG": "hi"} and kwargs["labels"] == {"abaco.worker": "W1"}
    assert kwargs["host_config"] == {"HostConfig": api.kwargs_of("create_host_config")}
    assert started == [(CID, "start")]  # called after start, before the wait
    assert api.kwargs_of("wait") == {"timeout": None}
    assert api.kwargs_of("logs") == {"stdout": True, "stderr": True}
    assert isinstance(result, ContainerResult)
    assert result.container_id == CID and result.exit_code == 0 and result.timed_out is False
    assert result.logs == "hello\n"
    assert result.started_at == dt.datetime(2024, 3, 1, 10, 0, 0, 123456)
    assert result.finished_at == dt.datetime(2024, 3, 1, 10, 0, 2, 623456)
    assert result.runtime_ms == 2500
    assert result.final_state == STATE
    assert api.streams[0].closed


def test_run_defaults_pass_no_limits_but_drop_every_capability(engine, api):
    engine.run(spec(mem_limit="", nano_cpus=0))
    assert api.kwargs_of("create_host_config") == {
        "network_mode": "host",
        "cgroup_parent": None,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
    }
    assert api.kwargs_of("create_container")["user"] is None


def test_hardening_and_limits_reach_the_engine(engine, api):
    engine.run(
        spec(
            user="65534:65534",
            pids_limit=128,
            read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"},
            binds=["/data/alice:/data:ro"],
            log_max_size="10m",
        )
    )
    config = api.kwargs_of("create_host_config")
    assert config["pids_limit"] == 128 and config["read_only"] is True
    assert config["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=64m"} and config["binds"] == ["/data/alice:/data:ro"]
    assert config["log_config"] == {"type": "json-file", "config": {"max-size": "10m", "max-file": "1"}}
    assert config["cap_drop"] == ["ALL"] and "privileged" not in config
    assert api.kwargs_of("create_container")["user"] == "65534:65534"


def test_a_privileged_container_keeps_its_capabilities(engine, api):
    engine.run(spec(privileged=True))
    config = api.kwargs_of("create_host_config")
    assert config["privileged"] is True and "cap_drop" not in config


def test_a_finished_container_is_left_for_the_caller(engine, api):
    engine.run(spec())
    assert "remove_container" not in api.names()


def test_exit_code_comes_from_wait_and_falls_back_to_the_state(engine, api):
    api.status_code = 3
    assert engine.run(spec()).exit_code == 3
    api.wait_results = [{}]
    api.state["ExitCode"] = 7
    assert engine.run(spec()).exit_code == 7


def test_missing_times_give_zero_runtime(engine, api):
    api.state = {**STATE, "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": None}
    result = engine.run(spec())
    assert result.started_at is None and result.finished_at is None and result.runtime_ms == 0


def test_runtime_is_never_negative():
    t = dt.datetime(2024, 1, 1, 12)
    result = ContainerResult("c", 0, t, t - dt.timedelta(seconds=1), "", {})
    assert result.runtime_ms == 0


def test_a_failed_start_removes_the_container(engine, api):
    api.fail["start"] = EngineHttpError(500, "cgroup parent does not exist")
    started = []
    with pytest.raises(DockerError, match="cannot start a container of abaco/echo"):
        engine.run(spec(), on_started=started.append)
    assert started == []
    assert api.names()[-1] == "remove_container"
    assert api.kwargs_of("remove_container") == {"force": True}
    assert api.calls[-1][1] == (CID,)


def test_a_failed_wait_removes_the_container(engine, api):
    api.wait_results = [EngineHttpError(0, "POST /containers/x/wait: connection reset")]
    with pytest.raises(DockerError, match=f"lost the container {CID[:12]} while waiting"):
        engine.run(spec())
    assert "stop" not in api.names()
    assert api.names()[-1] == "remove_container"


def test_a_docker_error_while_waiting_removes_the_container(engine, api):
    api.wait_results = [EngineHttpError(404, "no such container")]
    with pytest.raises(DockerError, match="while waiting"):
        engine.run(spec())
    assert api.names()[-1] == "remove_container"


def test_a_failure_reading_the_result_removes_the_container(engine, api):
    api.fail["inspect_container"] = EngineHttpError(500, "gone")
    with pytest.raises(DockerError, match=f"cannot read the result of container {CID[:12]}"):
        engine.run(spec())
    assert api.names()[-1] == "remove_container"


def test_an_error_in_on_started_removes_the_container(engine, api):
    def on_started(cid):
        raise RuntimeError("could not record the container")

    with pytest.raises(RuntimeError, match="could not record"):
        engine.run(spec(), on_started=on_started)
    assert api.names()[-1] == "remove_container" and "wait" not in api.names()


def test_a_read_timeout_without_a_time_limit_is_an_error_not_a_time_out(engine, api):
    api.wait_results = [EngineTimeout("no answer in time")]
    with pytest.raises(DockerError, match="while waiting"):
        engine.run(spec(max_run_time=-1))
    assert "stop" not in api.names()


def test_max_run_time_stops_the_container_and_marks_it_timed_out(engine, api):
    api.wait_results = [EngineTimeout("no answer in time"), {"StatusCode": 137}]
    result = engine.run(spec(max_run_time=5))
    waits = [kw for n, _, kw in api.calls if n == "wait"]
    assert waits == [{"timeout": 5}, {"timeout": 60}]
    assert api.kwargs_of("stop") == {"timeout": 5}
    assert api.names().index("stop") < api.names().index("logs")
    assert result.timed_out is True and result.exit_code == 137
    assert "remove_container" not in api.names()


def test_a_container_that_does_not_stop_after_its_time_limit(engine, api):
    api.wait_results = [EngineTimeout("t"), EngineTimeout("still")]
    with pytest.raises(DockerError, match="did not stop after its time limit"):
        engine.run(spec(max_run_time=1))
    assert api.names()[-1] == "remove_container"


def test_long_logs_are_cut_with_a_marker(engine, api):
    api.log_chunks = [b"a" * 40, b"b" * 40, b"c" * 40, b"d" * 40]
    result = engine.run(spec(), max_log_length=50)
    assert result.logs == "a" * 40 + "b" * 10 + "\n[LOG LIMIT EXCEEDED: output truncated]\n"
    assert api.streams[0].consumed == 2  # stopped reading once over the limit
    assert api.streams[0].closed


def test_long_multibyte_logs_are_cut_with_a_marker(engine, api):
    api.log_chunks = ["é".encode() * 10, b"the rest is lost"]  # 20 bytes, 10 characters, then more
    result = engine.run(spec(), max_log_length=10)
    assert "the rest" not in result.logs
    assert "LOG LIMIT EXCEEDED" in result.logs


def test_logs_exactly_at_the_limit_are_kept_whole(engine, api):
    api.log_chunks = [b"x" * 25, b"y" * 25]
    assert engine.run(spec(), max_log_length=50).logs == "x" * 25 + "y" * 25


def test_no_log_limit_reads_everything(engine, api):
    api.log_chunks = [b"z" * 100] * 3
    result = engine.run(spec(), max_log_length=0)
    assert result.logs == "z" * 300
    assert api.streams[0].consumed == 3 and api.streams[0].closed


def test_undecodable_log_bytes_are_replaced(engine, api):
    api.log_chunks = [b"ok \xff\xfe done"]
    assert engine.run(spec()).logs == "ok \ufffd\ufffd done"


def test_truncate():
    assert _truncate(b"short", 10) == "short"
    assert _truncate(b"x" * 10, 10) == "x" * 10
    assert _truncate(b"x" * 11, 10) == "x" * 10 + "\n[LOG LIMIT EXCEEDED: output truncated]\n"
    assert _truncate(b"x" * 11, 0) == "x" * 11
    assert _truncate("é".encode() * 6, 5) == "éé" + "\n[LOG LIMIT EXCEEDED: output truncated]\n"


# -- create, stop, remove ------------------------------------------------------------------------


def test_create_with_a_missing_image(engine, api):
    with pytest.raises(DockerError, match="image abaco/absent is not present on this host"):
        engine.run(spec(image="abaco/absent"))
    assert "start" not in api.names() and "remove_container" not in api.names()


def test_create_failure_is_wrapped(engine, api):
    api.fail["create_container"] = EngineHttpError(409, "conflict")
    with pytest.raises(DockerError, match="cannot create a container of abaco/echo: conflict"):
        engine.create(spec())


def test_stop_passes_the_grace_period(engine, api):
    engine.stop(CID, grace=3)
    assert api.calls == [("stop", (CID,), {"timeout": 3})]


def test_stop_and_remove_of_a_missing_container_are_quiet(engine, api):
    api.fail["stop"] = EngineHttpError(404, "no such container")
    api.fail["remove_container"] = EngineHttpError(404, "no such container")
    engine.stop("gone")
    engine.remove("gone")
    assert api.names() == ["stop", "remove_container"]


def test_stop_failure_is_a_docker_error(engine, api):
    api.fail["stop"] = EngineHttpError(500, "daemon busy")
    with pytest.raises(DockerError, match=f"cannot stop container {CID[:12]}"):
        engine.stop(CID)


def test_remove_failure_is_only_logged(engine, api, caplog):
    api.fail["remove_container"] = EngineHttpError(0, "DELETE /containers/x: refused")
    engine.remove(CID)
    assert any("could not remove container" in r.getMessage() for r in caplog.records)


# -- images, listing, engine info ----------------------------------------------------------------


def test_image_present(engine, api):
    assert engine.image_present("abaco/echo") is True
    assert engine.image_present("abaco/absent") is False


def test_image_present_api_error_is_a_docker_error(engine, api):
    api.fail["inspect_image"] = docker.errors.APIError("500 Server Error", explanation="engine exploded")
    with pytest.raises(DockerError, match="cannot inspect image abaco/echo: engine exploded"):
        engine.image_present("abaco/echo")


def test_pull(engine, api):
    engine.pull("abaco/new")
    engine.pull("r.example.org/lab/new", {"username": "u", "password": "p"})
    assert api.calls == [
        ("pull", ("abaco/new",), {"stream": True, "decode": True, "auth_config": None}),
        (
            "pull",
            ("r.example.org/lab/new",),
            {"stream": True, "decode": True, "auth_config": {"username": "u", "password": "p"}},
        ),
    ]


def test_an_error_in_the_pull_stream_fails_the_pull(engine, api, monkeypatch):
    monkeypatch.setattr(api, "pull_events", ({"status": "Pulling"}, {"error": "manifest unknown"}))
    with pytest.raises(DockerError, match="manifest unknown"):
        engine.pull("abaco/new")


def test_a_pull_without_progress_times_out(engine, api):
    api.fail["pull"] = requests.exceptions.ReadTimeout("read timed out")
    with pytest.raises(DockerError, match="no progress for 30 s"):
        engine.pull("abaco/new")


@pytest.mark.parametrize(
    "exc",
    [docker.errors.APIError("denied"), requests.exceptions.ConnectionError("refused"), not_found("manifest")],
)
def test_pull_errors_are_wrapped(engine, api, exc):
    api.fail["pull"] = exc
    with pytest.raises(DockerError, match="cannot pull image abaco/new"):
        engine.pull("abaco/new")


def test_list_labelled_filters_by_label(engine, api):
    listed = engine.list_labelled("abaco.install=abc123")
    assert listed == [{"Id": CID, "Labels": {"abaco.worker": "W1"}}]
    assert api.calls == [("containers", (), {"all": True, "filters": {"label": "abaco.install=abc123"}})]


def test_list_labelled_error_is_wrapped(engine, api):
    api.fail["containers"] = requests.exceptions.ConnectionError("refused")
    with pytest.raises(DockerError, match="cannot list containers labelled x=y"):
        engine.list_labelled("x=y")


@pytest.mark.parametrize(
    "info, expected",
    [
        ({"CgroupDriver": "systemd", "CgroupVersion": "2"}, ("systemd", 2)),
        ({"CgroupDriver": "cgroupfs", "CgroupVersion": "1"}, ("cgroupfs", 1)),
        ({}, ("cgroupfs", 1)),
        ({"CgroupDriver": "", "CgroupVersion": None}, ("cgroupfs", 1)),
        ({"CgroupVersion": 2}, ("cgroupfs", 2)),
    ],
)
def test_cgroup_info(engine, api, info, expected):
    api.info_result = info
    assert engine.cgroup_info() == expected


def test_cgroup_info_error(engine, api):
    api.fail["info"] = requests.exceptions.ConnectionError("refused")
    with pytest.raises(DockerError, match="cannot read the Docker engine's info"):
        engine.cgroup_info()


def test_ping(engine, api):
    assert engine.ping() is True
    api.fail["ping"] = requests.exceptions.ConnectionError("refused")
    assert engine.ping() is False
    api.fail["ping"] = docker.errors.APIError("bad")
    assert engine.ping() is False


# -- parse_docker_time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-03-01T10:00:00.123456789Z", dt.datetime(2024, 3, 1, 10, 0, 0, 123456)),
        ("2024-03-01T10:00:00.5Z", dt.datetime(2024, 3, 1, 10, 0, 0, 500000)),
        ("2024-03-01T10:00:00Z", dt.datetime(2024, 3, 1, 10, 0, 0)),
        ("2024-03-01T10:00:00.000001", dt.datetime(2024, 3, 1, 10, 0, 0, 1)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_docker_time(value, expected):
    parsed = parse_docker_time(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is None


# -- an existing container (adoption): inspect and wait ---------------------------------------
def test_inspect_gives_the_engines_view_or_none_when_gone(engine, api):
    assert engine.inspect(CID)["Id"] == CID
    api.fail["inspect_container"] = EngineHttpError(404, "no such container")
    assert engine.inspect(CID) is None
    api.fail["inspect_container"] = EngineHttpError(500, "engine exploded")
    with pytest.raises(DockerError, match="cannot inspect container"):
        engine.inspect(CID)


def test_wait_reads_an_existing_containers_result_without_starting_or_removing_it(engine, api):
    result = engine.wait(CID, timeout=12.5)
    assert result.container_id == CID and result.exit_code == 0 and not result.timed_out
    assert api.names() == ["wait", "logs", "inspect_container"]
    assert api.kwargs_of("wait") == {"timeout": 12.5}


def test_wait_past_its_timeout_stops_the_container(engine, api):
    api.wait_results = [EngineTimeout("no answer in time"), {"StatusCode": 137}]
    result = engine.wait(CID, timeout=3)
    assert result.timed_out and result.exit_code == 137
    assert "remove_container" not in api.names()
