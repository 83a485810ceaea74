"""The worker observes each recorded execution in the metrics histograms, in the round trip that
signals its completion; an execution that never ran is not observed."""

import pytest

from abaco_shared import metrics
from abaco_shared.exposition import render
from abaco_shared.testing import FakeRun
from abaco_shared.testing.prometheus import parse, value_of

from .test_execution_runner import build_rig

pytestmark = pytest.mark.usefixtures("mongo")

NAMES = [h.name for h in metrics.HISTOGRAMS]


def scraped(redis_client):
    return parse(render(metrics.read_families(redis_client, "t:")))


def test_a_recorded_execution_is_observed_once(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client)
    rig.docker.runs.append(FakeRun(exit_code=3, runtime_ms=1500))
    rig.handle(rig.submit())

    families = scraped(redis_client)

    assert rig.signalled() == ["1"]
    assert [value_of(families, f"{name}_count") for name in NAMES] == [1, 1, 1]
    assert value_of(families, "abaco_execution_runtime_seconds_sum") == 1.5
    assert value_of(families, "abaco_execution_runtime_seconds_bucket", le="2.5") == 1
    assert value_of(families, "abaco_execution_runtime_seconds_bucket", le="1") == 0


def test_an_execution_whose_container_never_ran_is_not_observed(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client, max_attempts=1)
    rig.docker.runs.append(FakeRun(error="no such image"))
    rig.handle(rig.submit())

    assert rig.signalled() == ["1"]
    assert [value_of(scraped(redis_client), f"{name}_count") for name in NAMES] == [0, 0, 0]
