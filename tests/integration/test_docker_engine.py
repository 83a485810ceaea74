"""DockerEngine against the stack's Docker engine, through both of its paths: the lean client on
the Unix socket (what every worker uses) and docker-py's session (a TCP engine's path, here
forced): the same containers, results, logs, limits and errors."""

from __future__ import annotations

import os

import pytest

from abaco_shared.config import load_config
from abaco_shared.containers import ContainerSpec, DockerEngine
from abaco_shared.errors import DockerError

from .conftest import ROOT


@pytest.fixture(params=["lean", "sdk"])
def engine(request):
    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})
    eng = DockerEngine(cfg.host.docker_url)
    if request.param == "sdk":
        eng.http = None
    else:
        assert eng.http is not None, "a unix:// engine is reached through the lean client"
    return eng


def spec(image: str = "abaco/echo:latest", **kwargs) -> ContainerSpec:
    return ContainerSpec(
        image=image,
        environment={"MSG": "hi", **kwargs.pop("environment", {})},
        labels={"abaco.test": "engine"},
        network_mode="none",
        **kwargs,
    )


def test_a_container_runs_and_its_result_is_read(engine):
    started: list[str] = []
    result = engine.run(spec(mem_limit="64m", pids_limit=32), on_started=started.append)
    try:
        assert started == [result.container_id] and result.exit_code == 0 and not result.timed_out
        assert "message: hi" in result.logs
        assert result.final_state["Status"] == "exited" and result.started_at is not None
        host = engine.inspect(result.container_id)["HostConfig"]
        assert host["Memory"] == 64 * 1024 * 1024 and host["PidsLimit"] == 32 and host["CapDrop"] == ["ALL"]
    finally:
        engine.remove(result.container_id)
    assert engine.inspect(result.container_id) is None
    engine.remove(result.container_id)  # gone already: quiet
    engine.stop(result.container_id)


def test_stderr_exit_codes_and_a_log_limit(engine):
    result = engine.run(spec("abaco/fail:latest"), max_log_length=5)
    engine.remove(result.container_id)
    assert result.exit_code == 3
    assert result.logs.startswith("faili") and "LOG LIMIT EXCEEDED" in result.logs


def test_a_time_limit_stops_the_container(engine):
    result = engine.run(spec("abaco/sleep:latest", environment={"SLEEP_SECONDS": "30"}, max_run_time=1))
    engine.remove(result.container_id)
    assert result.timed_out and result.exit_code != 0


def test_a_missing_image_is_named(engine):
    with pytest.raises(DockerError, match="image abaco/never-built:latest is not present"):
        engine.run(spec("abaco/never-built:latest"))
