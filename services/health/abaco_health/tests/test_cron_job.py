"""The cron job of the health process: registered on the scheduler, and one pass per call."""

from __future__ import annotations

import datetime as dt

from abaco_health.checks import HealthChecker
from abaco_health.cron_job import CronJob
from abaco_health.main import make_scheduler
from abaco_shared import actors, cron
from abaco_shared.config import HealthConfig, HostConfig
from abaco_shared.models import Execution, utcnow
from abaco_shared.workflows.cron import CronReport


def test_the_scheduler_runs_the_cron_job_every_few_seconds_one_at_a_time(mongo, broker, docker):
    checker = HealthChecker(HealthConfig(), HostConfig(host_id="h1"), broker, docker, install_id="i1")
    job = CronJob(broker, "https://api.test")

    scheduler = make_scheduler(checker, reap_every=5, ping_every=30, cron=job, cron_every=10)

    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {"reap", "ping", "cron"}
    assert jobs["cron"].func == job.run
    assert jobs["cron"].trigger.interval == dt.timedelta(seconds=10)
    scheduler.start(paused=True)  # job defaults apply once a job reaches its store
    try:
        started = scheduler.get_job("cron")
        assert (started.max_instances, started.coalesce) == (1, True)
    finally:
        scheduler.shutdown(wait=False)


def test_a_run_sends_the_due_cron_messages(mongo, broker):
    fields = cron.schedule_fields("now + 1 hour", None, None, utcnow(), creating=True)
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest", **fields})

    report = CronJob(broker, "https://api.test").run()

    assert report == CronReport(ran=1)
    assert [ex.executor for ex in Execution.objects(actor_dbid=actor.db_id)] == ["cron"]
    assert actors.get(actor.db_id).cron_next_time == fields["cron_next_time"] + dt.timedelta(hours=1)
