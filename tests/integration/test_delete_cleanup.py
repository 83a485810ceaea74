"""DELETE leaves nothing behind (issue 7, item 14): no mailbox queue, worker record or container.

RabbitMQ cancels the consumers of a deleted queue (basic.cancel); a worker used to take that for a
lost connection and declare the mailbox again, so some deleted actors kept a durable queue.
"""

from __future__ import annotations

import os
import subprocess
import time

from abaco_shared.actors import key_for
from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import load_config
from abaco_shared.models import Worker
from abaco_shared.store import connect_mongo, disconnect_mongo

from .conftest import ROOT

ACTORS = 10


def _config():
    return load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})


def _queue_exists(broker: Broker, name: str) -> bool:
    """A passive declare: RabbitMQ answers 404 NOT_FOUND (and closes the channel) for a missing queue."""
    conn = broker.connect()
    try:
        broker.queue(name).bind(conn.channel()).queue_declare(passive=True)
        return True
    except conn.channel_errors as exc:
        if "NOT_FOUND" in str(exc) or "404" in str(exc):
            return False
        raise
    finally:
        conn.release()


def _containers(actor_key: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=abaco.actor={actor_key}"], capture_output=True, text=True
    )
    return out.stdout.split()


def _workers(actor_keys: list[str]) -> list[str]:
    connect_mongo(_config().mongo)
    try:
        return [w.db_id for w in Worker.objects(actor_dbid__in=actor_keys)]
    finally:
        disconnect_mongo()


def test_deleting_actors_with_busy_workers_leaves_no_queue_worker_or_container(client, tenant):
    cfg = _config()
    broker = Broker(cfg.rabbit.broker_url(), prefix=cfg.rabbit.queue_prefix)
    ids = [
        client.register("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "3"})["id"] for _ in range(ACTORS)
    ]
    keys = [key_for(tenant, actor_id) for actor_id in ids]
    queues = [MailboxChannel(broker, key).queue.name[len(broker.prefix) :] for key in keys]
    try:
        executions = [client.send(actor_id, "sleep") for actor_id in ids]
        for actor_id, execution_id in zip(ids, executions, strict=True):  # every worker busy
            client.wait_execution(actor_id, execution_id, timeout=90, statuses=("RUNNING", "COMPLETE", "ERROR"))
        for name in queues:
            assert _queue_exists(broker, name), name
    finally:
        for actor_id in ids:
            client.call("DELETE", f"/actors/{actor_id}")

    deadline = time.monotonic() + 45
    while True:
        left = {
            "queues": [name for name in queues if _queue_exists(broker, name)],
            "workers": _workers(keys),
            "containers": [c for key in keys for c in _containers(key)],
        }
        if not any(left.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not any(left.values()), left
    # and they stay gone: nothing declares a mailbox again once its workers have exited
    time.sleep(3)
    assert [name for name in queues if _queue_exists(broker, name)] == []
    for actor_id in ids:
        assert client.call("GET", f"/actors/{actor_id}").status_code == 404
