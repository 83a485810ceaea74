"""Store outages against the real stack: MongoDB stopped (the APIs answer 503 with Retry-After, the
daemons wait it out, and a result in hand is saved once it is back, never run again) and a 40 s
RabbitMQ outage (every actor that had a worker has one again, a
running execution is held and recorded once, the daemons never restart).

These tests STOP MongoDB and RabbitMQ, which every other test and service uses: run this file on
its own, with nothing else testing against the stack (about 3 minutes). Each test restores what it
stopped in a ``finally`` and waits until the API answers again.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker
import requests

from abaco_shared.broker import Broker
from abaco_shared.channels import MailboxChannel
from abaco_shared.config import load_config
from abaco_shared.ids import new_id
from abaco_shared.messages import MailboxMessage

from .conftest import supervisorctl

DAEMONS = ("abaco:spawner", "abaco:health", "abaco:clientg")
SERVING = ("READY", "BUSY")
OLD_GIVE_UP = 24  # seconds after which a worker used to exit (5 failures: 2+4+8+10 s of back-off)


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.5) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # the stack is still coming back  # noqa: BLE001
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


def program_pid(name: str) -> int:
    out = supervisorctl("status", name)
    match = re.search(r"RUNNING\s+pid (\d+)", out)
    assert match, out
    return int(match.group(1))


def broker_answers() -> bool:
    """RabbitMQ takes connections again (supervisord says RUNNING a while before it does)."""
    cfg = load_config(env={})
    Broker(cfg.rabbit.broker_url(), retries=0).connect().release()
    return True


def api_answers(client) -> bool:
    return client.call("GET", "/actors").status_code == 200


def serving_workers(client, actor_id: str) -> list[dict]:
    return [w for w in client.ok("GET", f"/actors/{actor_id}/workers") if w["status"] in SERVING]


def send_retrying(client, actor_id: str, message: str, **params: str) -> str:
    """POST a message as a careful client does: an Idempotency-Key, and a retry after a 503 (a
    connection to a store that came back may fail once per API thread)."""
    key = uuid.uuid4().hex
    path = f"/actors/{actor_id}/messages"
    deadline = time.monotonic() + 60
    while True:
        reply = client.call("POST", path, data={"message": message}, params=params, headers={"Idempotency-Key": key})
        if reply.status_code != 503 or time.monotonic() > deadline:
            return client.result(reply)["execution_id"]
        time.sleep(float(reply.headers.get("Retry-After", "1")))


def mailbox_reads(client, path: str, at_once: int) -> set[int]:
    """The statuses of ``at_once`` concurrent reads of a mailbox's length."""
    with ThreadPoolExecutor(at_once) as pool:
        replies = pool.map(
            lambda _: requests.get(client.base + path, headers=dict(client.session.headers), timeout=30),
            range(at_once),
        )
        return {reply.status_code for reply in replies}


def assert_retryable_503(reply, store: str) -> None:
    assert reply.status_code == 503, f"{reply.status_code}: {reply.text}"
    assert int(reply.headers["Retry-After"]) > 0
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert body["status"] == "error" and body["result"] is None and "version" in body
    assert store in body["message"] and "Unrecognized" not in body["message"], body["message"]


def test_mongodb_down_is_a_503_with_retry_after_and_is_waited_out(client, actors, tenant):
    actor = actors("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "warm up"))
    (worker,) = serving_workers(client, actor["id"])
    daemons = {name: program_pid(name) for name in DAEMONS}
    cfg = load_config(env={})
    broker = Broker(cfg.rabbit.broker_url(), prefix=cfg.rabbit.queue_prefix)

    supervisorctl("stop", "infra:mongod")
    try:
        # an actor read a moment ago may still be served from the API's cache (at most
        # readcache max_age, 10 s, old: nothing can change it while MongoDB is down)
        early = client.call("GET", f"/actors/{actor['id']}")
        if early.status_code == 200:
            assert client.result(early)["id"] == actor["id"]
        else:
            assert_retryable_503(early, "MongoDB")
        # a message reaches the worker while MongoDB is down: it waits, longer than workers used
        # to put up with, instead of exiting (an unknown execution: acked unrun once MongoDB is back)
        MailboxChannel(broker, f"{tenant}_{actor['id']}").put(
            MailboxMessage(execution_id=new_id(), content_type="str", message="during the outage")
        )
        time.sleep(OLD_GIVE_UP + 6)
        for method, path, kwargs in (  # by now nothing is served from a cache
            ("GET", "/actors", {}),
            ("GET", f"/actors/{actor['id']}", {}),
            ("GET", f"/actors/{actor['id']}/executions", {}),
            ("POST", f"/actors/{actor['id']}/messages", {"data": {"message": "while down"}}),
        ):
            assert_retryable_503(client.call(method, path, **kwargs), "MongoDB")
    finally:
        broker.close()
        supervisorctl("start", "infra:mongod")
        wait_for(lambda: api_answers(client), 120, "the API after MongoDB came back")

    ex = client.wait_execution(actor["id"], send_retrying(client, actor["id"], "after"), timeout=90)
    assert ex["status"] == "COMPLETE" and ex["worker_id"] == worker["id"], "the same worker, still serving"
    assert {name: program_pid(name) for name in DAEMONS} == daemons, "no daemon exited during the outage"


def container_starts(execution_id: str, since: int) -> int:
    engine = docker.from_env()
    try:
        events = engine.events(
            since=since,
            until=int(time.time()) + 1,
            filters={"type": "container", "event": "start", "label": f"abaco.execution={execution_id}"},
            decode=True,
        )
        return sum(
            1 for ev in events if ev.get("Actor", {}).get("Attributes", {}).get("abaco.execution") == execution_id
        )
    finally:
        engine.close()


def test_a_result_in_hand_is_saved_after_mongodb_comes_back_not_run_again(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "3"})
    client.wait_execution(actor["id"], client.send(actor["id"], "warm up"))
    since = int(time.time()) - 1
    execution_id = client.send(actor["id"], "finishes while MongoDB is away")
    client.wait_execution(actor["id"], execution_id, timeout=30, statuses=("RUNNING",))

    supervisorctl("stop", "infra:mongod")
    try:
        time.sleep(10)  # the container exits (3 s) with its result in the worker's hands
    finally:
        supervisorctl("start", "infra:mongod")
        wait_for(lambda: api_answers(client), 120, "the API after MongoDB came back")

    ex = client.wait_execution(actor["id"], execution_id, timeout=90)
    assert (ex["status"], ex["outcome"], ex["exit_code"], ex["attempts"]) == ("COMPLETE", "SUCCESS", 0, 1), ex
    assert ex["runtime"] >= 2500, "the container's own run, recorded late"
    assert container_starts(execution_id, since) == 1, "saved when MongoDB came back, never run again"


def test_a_40s_rabbitmq_outage_leaves_every_actor_with_its_worker(client, actors):
    idle = [actors("abaco/echo:latest") for _ in range(3)]
    busy = actors("abaco/sleep:latest")
    for actor in (*idle, busy):
        client.wait_execution(actor["id"], client.send(actor["id"], "warm up"), timeout=90)
    before = {a["id"]: {w["id"] for w in serving_workers(client, a["id"])} for a in (*idle, busy)}
    assert all(before.values()), before
    daemons = {name: program_pid(name) for name in DAEMONS}
    held = client.send(busy["id"], "held through the outage", SLEEP_SECONDS="25")
    client.wait_execution(busy["id"], held, timeout=60, statuses=("RUNNING",))
    key = f"outage-{uuid.uuid4().hex}"
    path = f"/actors/{idle[0]['id']}/messages"
    mailbox_reads(client, path, at_once=24)  # the APIs keep several broker connections now

    supervisorctl("stop", "infra:rabbitmq")
    try:
        refused = client.call("POST", path, data={"message": "retried"}, headers={"Idempotency-Key": key})
        assert_retryable_503(refused, "RabbitMQ")
        time.sleep(40)
        # the execution that was running finished meanwhile; its result is in MongoDB already
        assert client.ok("GET", f"/actors/{busy['id']}/executions/{held}")["status"] == "COMPLETE"
    finally:
        supervisorctl("start", "infra:rabbitmq")
        wait_for(lambda: "RUNNING" in supervisorctl("status", "infra:rabbitmq"), 120, "RabbitMQ RUNNING")
        wait_for(broker_answers, 120, "RabbitMQ taking connections")

    # every actor that had a worker has one again: the same ones, which reconnected
    for actor in (*idle, busy):
        after = wait_for(lambda a=actor: serving_workers(client, a["id"]), 120, f"a worker of {actor['id']}")
        assert {w["id"] for w in after} == before[actor["id"]], "the workers reconnected; none was replaced"
    # every kept connection of the APIs died with the broker; none is handed to a caller
    assert mailbox_reads(client, path, at_once=24) == {200}
    for actor in (*idle, busy):  # and they serve: the broker reconnects took at most one back-off
        done = client.wait_execution(actor["id"], send_retrying(client, actor["id"], "after", SLEEP_SECONDS="0"), 90)
        assert done["status"] == "COMPLETE", done
        # a worker whose consumer met the outage late (the busy one, at its ack) may still be in
        # its back-off (up to 10 s) when the message comes: the autoscaler may then add a worker,
        # which takes it. The workers from before the outage stay, whichever ran it.
        assert done["worker_id"] and before[actor["id"]] <= {w["id"] for w in serving_workers(client, actor["id"])}

    ex = client.ok("GET", f"/actors/{busy['id']}/executions/{held}")
    assert (ex["status"], ex["outcome"], ex["attempts"]) == ("COMPLETE", "SUCCESS", 1), "held, recorded, run once"
    assert client.logs(busy["id"], held).count("slept: held through the outage") == 1

    # the POST refused during the outage was not run; its retry with the same key runs now
    retried = client.ok("POST", path, data={"message": "retried"}, headers={"Idempotency-Key": key})
    assert client.wait_execution(idle[0]["id"], retried["execution_id"])["status"] == "COMPLETE"
    assert {name: program_pid(name) for name in DAEMONS} == daemons, "no daemon exited during the outage"
