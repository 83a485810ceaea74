"""The autoscaler: scale-up on a backlog (bounded by max_workers and quotas), scale-down of idle
workers (to min_workers; a sync actor keeps one), stateful actors untouched, one claim a period."""

from __future__ import annotations

import datetime as dt

import pytest

from abaco_health.autoscaler import Autoscaler
from abaco_health.checks import HealthChecker
from abaco_health.tests.test_checks import CFG, DEAD_PID, make_worker, new_actor, spawn_commands
from abaco_shared import actors, metrics, workers
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import HealthConfig, HostConfig, SpawnerConfig, load_config
from abaco_shared.enums import WorkerStatus
from abaco_shared.errors import ConfigError, Conflict
from abaco_shared.models import Actor, Worker, utcnow
from abaco_shared.testing.fakes import fake_redis
from abaco_shared.workflows.scaling import Quota, ensure_workers

HEALTH = HealthConfig(worker_idle_ttl=60, max_scale_up=3)


def scaler(broker, redis_client=None, **spawner):
    return Autoscaler(HEALTH, SpawnerConfig(**spawner), broker, redis_client, "t:")


def fill(broker, actor, n):
    for i in range(n):
        broker.publish(MailboxChannel(broker, actor.db_id).queue, {"i": i})


def new_period(actor):
    Actor.objects(db_id=actor.db_id).update_one(set__worker_claim="")


def idle_for(worker, seconds):
    Worker.objects(db_id=worker.db_id).update_one(set__last_execution_time=utcnow() - dt.timedelta(seconds=seconds))


def statuses(actor):
    return sorted(w.status for w in workers.list_for_actor(actor.db_id))


def test_a_backlog_gets_workers_bounded_per_pass_and_by_max_workers(mongo, broker):
    actor = new_actor(max_workers=4)
    make_worker(actor, WorkerStatus.BUSY, pid=1)
    fill(broker, actor, 10)
    r = fake_redis()
    s = scaler(broker, r)

    assert s.run().up == 3  # max_scale_up a pass
    new_period(actor)
    assert s.run().up == 0  # 3 on their way, 10 waiting, but 4 = max_workers already
    assert len(workers.list_for_actor(actor.db_id)) == 4
    assert len(spawn_commands(broker)) == 3
    counts = r.hgetall(f"t:metrics:counter:{metrics.AUTOSCALER_DECISIONS}")
    assert {k.decode() if isinstance(k, bytes) else k for k in counts} == {"scale_up", "blocked"}


def test_workers_on_their_way_count_against_the_backlog(mongo, broker):
    actor = new_actor()
    make_worker(actor, WorkerStatus.REQUESTED)
    make_worker(actor, WorkerStatus.SPAWNER_SETUP)
    fill(broker, actor, 2)
    assert scaler(broker).run().up == 0


def test_one_claim_per_period_two_health_processes_do_not_double_scale(mongo, broker, monkeypatch):
    # one period for both passes: two passes that straddle a period's end would both claim
    monkeypatch.setattr("abaco_health.autoscaler.claim_slot", lambda period=2, prefix="": f"{prefix}one-period")
    actor = new_actor()
    fill(broker, actor, 10)
    assert scaler(broker).run().up == 3
    assert scaler(broker).run().up == 0  # same period: the other host's pass loses the claim


def test_stateful_actors_and_actors_in_error_are_left_alone(mongo, broker):
    stateful = new_actor(stateless=False)
    broken = new_actor(status="ERROR")
    fill(broker, stateful, 5)
    fill(broker, broken, 5)
    assert scaler(broker).run().up == 0
    assert workers.list_for_actor(stateful.db_id) == workers.list_for_actor(broken.db_id) == []


def test_quota_per_user_bounds_scale_up_and_post_workers(mongo, broker):
    actor = new_actor()
    other = new_actor()  # same owner (alice)
    make_worker(other, WorkerStatus.READY, pid=1)
    fill(broker, actor, 10)
    report = scaler(broker, max_workers_per_user=3).run()
    assert report.up == 2
    new_period(actor)
    assert scaler(broker, max_workers_per_user=3).run().blocked == 1
    with pytest.raises(Conflict):
        ensure_workers(actors.get(actor.db_id), 3, broker, 20, Quota(per_user=3))


def test_quota_per_tenant(mongo, broker):
    actor = new_actor()
    make_worker(actor, WorkerStatus.READY, pid=1)
    assert Quota(per_tenant=1).room(actor) == 0
    assert Quota(per_tenant=5).room(actor) == 4
    assert Quota().room(actor) is None


def test_idle_ready_workers_are_stopped_down_to_min_workers(mongo, broker):
    actor = new_actor(min_workers=1)
    old = [make_worker(actor, WorkerStatus.READY, pid=1) for _ in range(3)]
    busy = make_worker(actor, WorkerStatus.BUSY, pid=1)
    for w in old:
        idle_for(w, 120)
    idle_for(busy, 120)
    fresh = make_worker(actor, WorkerStatus.READY, pid=1)
    idle_for(fresh, 5)

    report = scaler(broker).run()

    assert report.down == 3  # 5 live, min 1: all 3 idle READY ones go, not the BUSY nor the fresh one
    assert statuses(actor).count(WorkerStatus.SHUTDOWN_REQUESTED.value) == 3
    assert workers.get(busy.db_id).status == WorkerStatus.BUSY.value
    assert workers.get(fresh.db_id).status == WorkerStatus.READY.value
    assert MailboxChannel(broker, actor.db_id).length() == 0  # the mailbox is kept (stop-no-delete)


def test_scale_to_zero_and_a_stopped_worker_is_not_replaced_by_health(mongo, broker, docker):
    actor = new_actor()
    worker = make_worker(actor, WorkerStatus.READY, pid=DEAD_PID)
    idle_for(worker, 120)
    assert scaler(broker).run().down == 1
    checker = HealthChecker(CFG, HostConfig(host_id="h1"), broker, docker, install_id="i1")
    spawn_commands(broker)
    assert checker.reap().restarted == 0  # the process exited after the stop: no replacement
    assert workers.list_for_actor(actor.db_id) == [] and spawn_commands(broker) == []


def test_a_sync_actor_keeps_one_worker_while_recently_active(mongo, broker):
    actor = new_actor(hints=["sync"])
    a = make_worker(actor, WorkerStatus.READY, pid=1)
    b = make_worker(actor, WorkerStatus.READY, pid=1)
    idle_for(a, 120)
    idle_for(b, 120)
    assert scaler(broker).run().down == 1
    new_period(actor)
    assert scaler(broker).run().down == 0
    idle_for(b if workers.get(b.db_id).status == "READY" else a, 700)
    new_period(actor)
    assert scaler(broker).run().down == 1


def test_autoscaling_off_does_nothing(mongo, broker):
    actor = new_actor()
    fill(broker, actor, 3)
    off = Autoscaler(HealthConfig(autoscaling=False), SpawnerConfig(), broker)
    assert off.run().up == 0


@pytest.mark.parametrize(
    "key,value",
    [
        ("ABACO__HEALTH__AUTOSCALE_INTERVAL", "0"),
        ("ABACO__HEALTH__MAX_SCALE_UP", "0"),
        ("ABACO__HEALTH__WORKER_IDLE_TTL", "-1"),
        ("ABACO__SPAWNER__MAX_WORKERS_PER_USER", "-1"),
    ],
)
def test_bad_autoscaler_config_is_refused(tmp_path, key, value):
    with pytest.raises(ConfigError):
        load_config(env={"ABACO_HOME": str(tmp_path), key: value})


def test_autoscaler_config_defaults_and_overrides(tmp_path):
    cfg = load_config(env={"ABACO_HOME": str(tmp_path), "ABACO__HEALTH__WORKER_IDLE_TTL": "5"})
    assert (cfg.health.autoscaling, cfg.health.autoscale_interval, cfg.health.worker_idle_ttl) == (True, 2, 5)
    assert (cfg.spawner.max_workers_per_tenant, cfg.spawner.max_workers_per_user) == (200, 50)


@pytest.mark.parametrize("status", [WorkerStatus.READY, WorkerStatus.CREATING_CONTAINER, WorkerStatus.PULLING_IMAGE])
def test_a_message_about_to_be_taken_by_a_worker_not_busy_adds_none(mongo, broker, status):
    actor = new_actor()
    make_worker(actor, status, pid=1)
    fill(broker, actor, 1)
    assert scaler(broker).run().up == 0


def test_exclusive_passes_one_health_process_takes_each_period(mongo, broker):
    actor = new_actor()
    other = new_actor()
    fill(broker, actor, 2)
    r = fake_redis()
    first = Autoscaler(HEALTH, SpawnerConfig(), broker, r, "t:", exclusive=True)
    second = Autoscaler(HEALTH, SpawnerConfig(), broker, r, "t:", exclusive=True)
    report = first.run()
    assert report.up == 2 and report.decisions == {actor.db_id: "scale_up", other.db_id: "hold"}
    assert second.run().decisions == {}  # this period is taken: no pass at all
    r.delete("t:autoscaler:pass")  # the next period
    assert set(second.run().decisions) == {actor.db_id, other.db_id}
    counts = r.hgetall(f"t:metrics:counter:{metrics.AUTOSCALER_DECISIONS}")
    assert {k: int(v) for k, v in counts.items()} == {"scale_up": 1, "hold": 3}  # one round trip a pass
