"""Messages accepted at the same moment share their writes (``groupcommit``): one insert_many,
one run of publishes with one wait for RabbitMQ's confirms. Each must still get its own
execution, queued once and run once."""

from __future__ import annotations

import threading
import uuid

import requests

from abaco_shared.broker import Broker
from abaco_shared.config import load_config


def run_together(n: int, fn) -> list:
    """``fn(i)`` for i in range(n), each in its own thread, released at once; their results
    (an exception in a thread is re-raised here)."""
    barrier = threading.Barrier(n)
    out: list = [None] * n
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            barrier.wait(10)
            out[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return out


def test_concurrent_publishes_are_confirmed_together_and_each_arrives_once(stack):
    broker = Broker(load_config(env={}).rabbit.broker_url(), prefix=f"gc{uuid.uuid4().hex[:8]}_")
    q = broker.queue("batched")
    broker.declare(q)
    try:
        per_thread, threads = 10, 20

        def publish(i: int) -> None:
            for k in range(per_thread):
                broker.publish(q, {"i": i * per_thread + k})

        run_together(threads, publish)
        n = per_thread * threads
        assert broker._publishes.items == n
        assert broker._publishes.batches < n  # some went out together
        assert broker.message_count(q) == n
        assert sorted(broker.get(q, 5)["i"] for _ in range(n)) == list(range(n))
    finally:
        broker.delete(q)
        broker.close()


def test_messages_posted_at_once_each_get_their_own_execution_and_run_once(client, actors):
    actor = actors("abaco/echo:latest", name="together")
    aid = actor["id"]
    headers = dict(client.session.headers)

    def post(i: int) -> str:
        resp = requests.post(
            f"{client.base}/actors/{aid}/messages", data={"message": f"m{i}"}, headers=headers, timeout=30
        )
        assert resp.status_code == 200, resp.text
        return str(resp.json()["result"]["execution_id"])

    n = 24
    ids = run_together(n, post)
    assert len(set(ids)) == n
    for i, eid in enumerate(ids):
        ex = client.wait_execution(aid, eid, timeout=120)
        assert ex["status"] == "COMPLETE" and ex["outcome"] == "SUCCESS", ex
        assert f"message: m{i}" in client.logs(aid, eid)
    listed = client.ok("GET", f"/actors/{aid}/executions")
    assert listed["total_executions"] == n
    assert {e["id"] for e in listed["executions"]} == set(ids)
