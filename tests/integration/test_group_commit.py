"""Messages accepted at the same moment share their writes (``groupcommit``): one insert_many,
one run of publishes with one wait for RabbitMQ's confirms. Each must still get its own
execution, queued once and run once."""

from __future__ import annotations

import json
import threading
import uuid

import requests

from abaco_shared.broker import Broker
from abaco_shared.config import load_config
from abaco_shared.errors import ChannelError


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


def test_a_message_no_store_can_keep_is_a_400_and_fails_no_one_sent_with_it(client, actors):
    """An integer over 64 bits (or a key with a NUL) cannot be stored in MongoDB: it is refused
    at once with a clear 400, and the messages sent at the same moment are accepted and run."""
    actor = actors("abaco/echo:latest", name="together-bad")
    aid = actor["id"]
    headers = {**client.session.headers, "Content-Type": "application/json"}
    bodies = [f'{{"n": {i}}}' for i in range(8)] + ['{"n": 100000000000000000000}', '{"a\\u0000b": 1}']

    def post(i: int) -> requests.Response:
        return requests.post(f"{client.base}/actors/{aid}/messages", data=bodies[i], headers=headers, timeout=30)

    replies = run_together(len(bodies), post)
    bad = replies[8:]
    assert [r.status_code for r in bad] == [400, 400]
    assert "64 bits" in bad[0].json()["message"] and "NUL" in bad[1].json()["message"]
    assert all(r.json()["status"] == "error" for r in bad)
    good = [r.json()["result"]["execution_id"] for r in replies[:8] if r.status_code == 200]
    assert len(good) == 8, [r.text for r in replies[:8]]
    for eid in good:
        assert client.wait_execution(aid, eid, timeout=120)["status"] == "COMPLETE"
    assert client.ok("GET", f"/actors/{aid}/executions")["total_executions"] == 8


def test_a_string_message_with_a_nul_is_a_400(client, actors):
    # no container's environment can carry it: refused at once, not failed three times later
    actor = actors("abaco/echo:latest", name="nul-string")
    resp = client.call("POST", f"/actors/{actor['id']}/messages", data={"message": "a\x00b"})
    assert resp.status_code == 400 and "NUL" in resp.json()["message"]


def test_a_batch_written_at_once_keeps_each_message_and_each_refusal_its_own(stack):
    """On RabbitMQ a batch's frames go out in one write and its confirms are read together
    (``amqpwire``): a message larger than a frame arrives whole, and a queue that refuses a
    message (full, with reject-publish) fails only that message."""
    from kombu import Queue

    from abaco_shared.broker import Outgoing

    prefix = f"gw{uuid.uuid4().hex[:8]}_"
    broker = Broker(load_config(env={}).rabbit.broker_url(), prefix=prefix)
    roomy = broker.queue("roomy")
    full = Queue(
        prefix + "full",
        routing_key=prefix + "full",
        durable=False,
        queue_arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
    )
    broker.declare(roomy)
    broker.declare(full)
    try:
        big = {"text": "x" * 300_000}  # more than a frame (RabbitMQ's frame_max: 128 KiB)
        items = [
            Outgoing(roomy, json.dumps(big), {"delivery_mode": 2}),
            Outgoing(full, json.dumps({"n": 1}), {"delivery_mode": 2}),
            Outgoing(full, json.dumps({"n": 2}), {"delivery_mode": 2}),
            Outgoing(roomy, json.dumps({"n": 3}), {"delivery_mode": 2}),
        ]
        first, second, third, fourth = broker.publish_batch(items)
        assert first is None and second is None and fourth is None
        assert isinstance(third, ChannelError) and "refused the message" in str(third)
        transport = broker._idle[-1].connection.transport
        assert transport.__dict__.get("_abaco_read_ahead") is transport.sock  # the wire path ran
        assert broker.get(roomy, 5) == big and broker.get(roomy, 5) == {"n": 3}
        assert broker.get(full, 5) == {"n": 1} and broker.message_count(full) == 0
    finally:
        broker.delete(roomy)
        broker.delete(full)
        broker.close()
