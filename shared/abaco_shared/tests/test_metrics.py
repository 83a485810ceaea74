"""Redis-backed metrics: histogram buckets, execution timings in the completion pipeline, the
autoscaler's decision counter, and reading them all back as families."""

import datetime as dt

import pytest

from abaco_shared import metrics
from abaco_shared.exposition import render
from abaco_shared.metrics import QUEUE_WAIT, RUNTIME, AutoscalerDecision, ExecutionTimings, Histogram
from abaco_shared.testing.prometheus import parse, value_of
from abaco_shared.waiters import CompletionSignals

P = "t:"
H = Histogram("abaco_h_seconds", "H.", (0.1, 1, 10))


@pytest.mark.parametrize(
    ("value", "field"), [(0, "0.1"), (0.1, "0.1"), (0.11, "1"), (1, "1"), (10, "10"), (11, "+Inf")]
)
def test_a_value_lands_in_its_smallest_bound_at_least_it(value, field):
    assert H.field_for(value) == field


def test_stored_buckets_become_cumulative():
    data = H.data({"0.1": "2", "1": "1", "+Inf": "3", "sum": "40.5"})
    assert (data.cumulative, data.count, data.sum) == ((2, 3, 3), 6, 40.5)


def test_buckets_stored_under_other_bounds_are_re_binned_and_junk_is_ignored():
    data = H.data({"0.05": "1", "5": "2", "20": "4", "junk": "9", "1": "x"})
    assert (data.cumulative, data.count) == ((1, 1, 3), 7)


def test_observations_add_up_in_redis(redis_client):
    for value in (0.05, 0.5, 5, 50):
        H.observe(redis_client, P, value)
    data = H.data(redis_client.hgetall(H.key(P)))
    assert (data.cumulative, data.count, data.sum) == ((1, 2, 3), 4, 55.55)


T0 = dt.datetime(2026, 3, 1, 12, 0, 0)
EPOCH0 = T0.replace(tzinfo=dt.UTC).timestamp()


def test_timings_of_an_execution():
    t = ExecutionTimings.of(T0, EPOCH0 + 1.5, T0 + dt.timedelta(seconds=1.75), 2500)
    assert (t.queue_wait, t.container_start, t.runtime) == (1.5, 0.25, 2.5)


def test_clock_skew_never_makes_a_negative_duration_and_unknowns_are_not_observed(redis_client):
    t = ExecutionTimings.of(T0 + dt.timedelta(seconds=5), EPOCH0, None, 100)
    assert (t.queue_wait, t.container_start, t.runtime) == (0.0, None, None)
    with redis_client.pipeline(transaction=False) as pipe:
        t.write(pipe, P)
        pipe.execute()
    assert redis_client.hgetall(QUEUE_WAIT.key(P)) == {"0.01": "1", "sum": "0"}
    assert redis_client.exists(RUNTIME.key(P)) == 0


def test_timings_ride_on_the_completion_signal_pipeline(redis_client):
    signals = CompletionSignals(redis_client, P)
    t = ExecutionTimings(0.2, 0.3, 1.0)

    signals.notify("dev_A_E1", then=t.writer(P))

    assert redis_client.lrange(signals.key_for("dev_A_E1"), 0, -1) == ["1"]
    families = parse(render(metrics.read_families(redis_client, P)))
    for name in ("abaco_execution_queue_wait_seconds", "abaco_execution_container_start_seconds", RUNTIME.name):
        assert value_of(families, f"{name}_count") == 1
    assert value_of(families, "abaco_execution_runtime_seconds_bucket", le="1") == 1
    assert value_of(families, "abaco_execution_runtime_seconds_bucket", le="0.5") == 0


def test_every_decision_has_a_series_that_starts_at_zero(redis_client):
    families = parse(render(metrics.read_families(redis_client, P)))
    assert families["abaco_autoscaler_decisions_total"].type == "counter"
    assert {dict(labels)["decision"]: v for _, labels, v in families["abaco_autoscaler_decisions_total"].samples} == {
        d.value: 0 for d in AutoscalerDecision
    }


def test_decisions_are_counted(redis_client):
    metrics.record_decision(redis_client, P, AutoscalerDecision.SCALE_UP)
    metrics.record_decision(redis_client, P, AutoscalerDecision.SCALE_UP)
    with redis_client.pipeline(transaction=False) as pipe:  # or on the caller's pipeline
        metrics.record_decision(pipe, P, AutoscalerDecision.HOLD, count=3)
        pipe.execute()
    redis_client.hset(f"{P}metrics:counter:abaco_autoscaler_decisions_total", "bogus", "9")  # never shown

    families = parse(render(metrics.read_families(redis_client, P)))

    assert value_of(families, "abaco_autoscaler_decisions_total", decision="scale_up") == 2
    assert value_of(families, "abaco_autoscaler_decisions_total", decision="hold") == 3
    assert value_of(families, "abaco_autoscaler_decisions_total", decision="bogus") is None


def test_a_decision_outside_the_vocabulary_is_refused(redis_client):
    with pytest.raises(ValueError):
        metrics.record_decision(redis_client, P, "scale_sideways")  # type: ignore[arg-type]
