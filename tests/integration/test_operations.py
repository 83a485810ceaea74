"""Operations: the spawner can restart under running workers; workers are reaped, not zombies."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path

from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import load_config
from abaco_shared.ids import new_id
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Execution, utcnow
from abaco_shared.store import connect_mongo, disconnect_mongo

from .conftest import supervisorctl


def _process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_every_program_is_listed_by_supervisorctl(stack):
    out = supervisorctl("status")
    for name in (
        "mongod",
        "rabbitmq",
        "redis",
        "nginx",
        "registration",
        "messages",
        "admin",
        "spawner",
        "health",
        "clientg",
        "events",
    ):
        assert name in out, out
    for line in out.splitlines():
        if "dockerd" not in line:
            assert "RUNNING" in line, line


def test_spawner_restart_leaves_workers_running_and_serving(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "2"})
    client.wait_execution(actor["id"], client.send(actor["id"], "before"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    pid = worker["pid"]
    running = client.send(actor["id"], "during")
    out = supervisorctl("restart", "abaco:spawner")
    assert "started" in out, out
    assert _process_state(pid) not in (None, "Z"), "the worker survived the spawner restart"
    ex = client.wait_execution(actor["id"], running)
    assert ex["exit_code"] == 0 and ex["worker_id"] == worker["id"]
    after = client.wait_execution(actor["id"], client.send(actor["id"], "after"))
    assert after["worker_id"] == worker["id"] and after["exit_code"] == 0
    assert "slept: after" in client.logs(actor["id"], after["id"])


def test_stopped_workers_are_reaped_not_zombies(client):
    actor = client.register("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "x"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    client.ok("DELETE", f"/actors/{actor['id']}")
    deadline = time.monotonic() + 20
    while _process_state(worker["pid"]) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _process_state(worker["pid"]) is None, "the worker exited and was reaped"
    assert os.path.exists("/proc/1")


def test_sigkill_of_a_worker_mid_execution_loses_nothing(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "3"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    since = str(int(time.time()) - 1)
    execution_id = client.send(actor["id"], "survivor")
    client.wait_execution(actor["id"], execution_id, timeout=30, statuses=("RUNNING",))
    os.kill(worker["pid"], 9)
    ex = client.wait_execution(actor["id"], execution_id, timeout=90)
    assert ex["status"] == "COMPLETE" and ex["exit_code"] == 0
    assert ex["attempts"] == 1, "the container that was running is adopted, not run again"
    assert ex["worker_id"] != worker["id"], "a new worker adopted the redelivered message's container"
    assert "slept: survivor" in client.logs(actor["id"], execution_id)
    starts = subprocess.run(
        ["docker", "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "event=start"]
        + ["--filter", f"label=abaco.execution={execution_id}", "--format", "{{.ID}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(starts) == 1, f"one container for the execution, not {starts}"
    deadline = time.monotonic() + 30
    while subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=abaco.worker={worker['id']}"], capture_output=True, text=True
    ).stdout.strip():
        assert time.monotonic() < deadline, "the dead worker's container was not removed"
        time.sleep(0.5)
    workers = client.ok("GET", f"/actors/{actor['id']}/workers")
    assert [w["id"] for w in workers] != [worker["id"]]


def test_sigterm_lets_the_execution_finish_and_queued_work_resumes(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "2"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    (worker,) = client.ok("GET", f"/actors/{actor['id']}/workers")
    running = client.send(actor["id"], "running")
    queued = client.send(actor["id"], "queued")
    client.wait_execution(actor["id"], running, timeout=30, statuses=("RUNNING",))
    os.kill(worker["pid"], 15)
    first = client.wait_execution(actor["id"], running, timeout=60)
    assert first["exit_code"] == 0 and first["outcome"] == "SUCCESS" and first["worker_id"] == worker["id"]
    assert first["attempts"] == 1, "a graceful stop finishes the running execution"
    second = client.wait_execution(actor["id"], queued, timeout=90)
    assert second["exit_code"] == 0 and second["worker_id"] != worker["id"]
    assert "slept: queued" in client.logs(actor["id"], queued)


def test_an_execution_whose_message_never_arrived_ends_and_revives_if_it_does(client, actors):
    """A crash between recording an execution and queueing its message must not leave it SUBMITTED."""
    actor = actors("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    cfg = load_config(env={})
    connect_mongo(cfg.mongo)
    try:
        aid = actor["id"]
        tenant = client.ok("GET", f"/actors/{aid}/workers")[0]["tenant"]
        dbid = f"{tenant}_{aid}"
        eid = new_id()
        Execution(
            db_id=f"{dbid}_{eid}",
            execution_id=eid,
            actor_dbid=dbid,
            tenant=tenant,
            executor="alice",
            message="late",
            content_type="str",
            message_received_time=utcnow() - dt.timedelta(hours=1),
        ).save()
        deadline = time.monotonic() + 30
        while (ex := client.ok("GET", f"/actors/{actor['id']}/executions/{eid}"))["status"] == "SUBMITTED":
            assert time.monotonic() < deadline, "health never ended the orphan execution"
            time.sleep(0.2)
        assert ex["status"] == "ERROR" and ex["outcome"] == "LOST"
        broker = Broker(cfg.rabbit.broker_url())
        MailboxChannel(broker, dbid).put(
            MailboxMessage(execution_id=eid, content_type="str", message="late", env={"_abaco_execution_id": eid})
        )
        broker.close()
        revived = client.wait_execution(aid, eid, statuses=("COMPLETE",))
        assert revived["outcome"] == "SUCCESS"
        assert "message: late" in client.logs(actor["id"], eid)
    finally:
        disconnect_mongo()
