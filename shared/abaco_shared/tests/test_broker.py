"""Broker (kombu wrapper), the named channels and the wire messages, over kombu's memory:// transport."""

import dataclasses
import logging
import threading
import time

import amqp.exceptions
import pytest
from kombu import Producer

from abaco_shared.broker import Broker, Queue
from abaco_shared.channels import (
    ClientsChannel,
    CommandChannel,
    EventsChannel,
    MailboxChannel,
    ResultsChannel,
    SpawnerWorkerChannel,
    WorkerChannel,
)
from abaco_shared.enums import Barrier, WorkerCommandName
from abaco_shared.errors import ChannelError, ChannelTimeout, ValidationError
from abaco_shared.messages import (
    ClientReply,
    ClientRequest,
    EventMessage,
    MailboxMessage,
    SpawnCommand,
    SpawnerReady,
    WorkerCommand,
)

SPAWN = SpawnCommand(actor_dbid="dev_A1", worker_id="W1", image="abaco/echo", revision=3, tenant="dev")


def run_in_thread(fn, *args, **kwargs):
    """Start ``fn`` in a daemon thread; the returned thread's ``error`` holds what it raised."""

    def target():
        try:
            fn(*args, **kwargs)
        except BaseException as exc:  # noqa: B036 - reported to the test
            thread.error = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.error = None
    thread.start()
    return thread


def take_raw(broker, queue, timeout=2.0):
    """One kombu message with its properties (``Broker.get`` returns only the body)."""
    conn = broker.connect()
    try:
        bound = queue.bind(conn.default_channel)
        bound.declare()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = bound.get(no_ack=True, accept=["json"])
            if msg is not None:
                return msg.decode(), msg.properties, msg.delivery_info
            time.sleep(0.01)
        raise AssertionError(f"nothing on {queue.name}")
    finally:
        conn.release()


def publish_raw(broker, queue, payload, content_type):
    conn = broker.connect()
    try:
        Producer(conn.default_channel).publish(
            payload,
            routing_key=queue.routing_key,
            declare=[queue],
            serializer=None,
            content_type=content_type,
            content_encoding="binary",
        )
    finally:
        conn.release()


# -- Broker --------------------------------------------------------------------------------------


def test_queue_names_carry_the_prefix_and_expiry(broker):
    q = broker.queue("worker_W", durable=False, expires=3600)
    assert q.name == broker.prefix + "worker_W" and q.routing_key == q.name
    assert q.durable is False
    assert q.queue_arguments == {"x-expires": 3_600_000}
    plain = broker.queue("clients")
    assert plain.durable is True and not plain.queue_arguments and plain.auto_delete is False
    assert broker.queue("half", expires=0.5).queue_arguments == {"x-expires": 500}


def test_publish_then_get_round_trips_json(broker):
    q = broker.queue("roundtrip")
    body = {"v": 1, "text": "héllo", "nested": {"list": [1, 2.5, None, True]}}
    broker.publish(q, body)
    assert broker.get(q, timeout=1) == body


def test_get_is_fifo_and_takes_one_message(broker):
    q = broker.queue("fifo")
    for i in range(3):
        broker.publish(q, {"i": i})
    assert [broker.get(q, timeout=1)["i"] for _ in range(2)] == [0, 1]
    assert broker.message_count(q) == 1


def test_publish_passes_properties_and_delivery_mode(broker):
    q = broker.queue("props")
    broker.publish(q, {"a": 1}, persistent=False, correlation_id="cid-1", reply_to="somewhere")
    body, props, _ = take_raw(broker, q)
    assert body == {"a": 1}
    assert props["correlation_id"] == "cid-1" and props["reply_to"] == "somewhere"
    assert props["delivery_mode"] == 1
    broker.publish(q, {"a": 2})
    assert take_raw(broker, q)[1]["delivery_mode"] == 2


def test_get_times_out(broker):
    q = broker.queue("empty")
    started = time.monotonic()
    with pytest.raises(ChannelTimeout, match="no message on .*empty"):
        broker.get(q, timeout=0.1, poll=0.02)
    assert 0.1 <= time.monotonic() - started < 1.0


def test_get_waits_for_a_message_published_later(broker):
    q = broker.queue("later")
    timer = threading.Timer(0.1, broker.publish, (q, {"late": True}))
    timer.start()
    try:
        assert broker.get(q, timeout=2, poll=0.02) == {"late": True}
    finally:
        timer.cancel()


def test_message_count_and_purge(broker):
    q = broker.queue("counted")
    for i in range(4):
        broker.publish(q, {"i": i})
    assert broker.message_count(q) == 4
    assert broker.purge(q) == 4
    assert broker.message_count(q) == 0
    assert broker.purge(q) == 0


class _DeadConnection:
    """A kept connection whose broker restarted: it still says connected until it is used."""

    connected = True
    released = False

    @property
    def default_channel(self):
        raise ConnectionResetError("Connection reset by peer")

    def release(self):
        self.released = True

    collect = release


def test_a_stale_kept_connection_is_replaced_once_not_reported(broker):
    q = broker.queue("after_restart")
    broker.publish(q, {"i": 1})
    dead = _DeadConnection()
    broker.close()
    broker._idle = [dead]
    assert broker.message_count(q) == 1
    assert dead.released


def test_after_a_restart_every_stale_kept_connection_is_dropped_and_one_retry_suffices(broker):
    # a busy API keeps several connections; a broker restart kills them all at once
    q = broker.queue("after_restart_many")
    broker.publish(q, {"i": 1})
    broker.close()
    dead = [_DeadConnection() for _ in range(3)]
    broker._idle = list(dead)
    assert broker.message_count(q) == 1
    assert all(d.released for d in dead)
    assert len(broker._idle) == 1 and broker._idle[0] not in dead


def test_a_fresh_connection_that_fails_is_reported_at_once(broker, monkeypatch):
    broker.close()
    monkeypatch.setattr(broker, "_checkout", lambda fresh=False: (_DeadConnection(), False))
    with pytest.raises(ChannelError):
        broker.message_count(broker.queue("down"))


def test_purge_of_a_queue_that_does_not_exist_is_zero(broker):
    assert broker.purge(broker.queue("never_declared")) == 0


def test_message_count_of_a_queue_that_does_not_exist_is_zero_on_memory(broker):
    assert broker.message_count(broker.queue("never_declared")) == 0


def test_missing_queue_maps_amqp_not_found_to_zero(broker, monkeypatch):
    # what py-amqp raises against RabbitMQ for a missing queue
    def not_found(fn):
        raise amqp.exceptions.NotFound("NOT_FOUND - no queue", reply_code=404)

    monkeypatch.setattr(broker, "_with_channel", not_found)
    q = broker.queue("gone")
    assert broker.message_count(q) == 0
    assert broker.purge(q) == 0
    assert broker.delete(q) is None


def test_other_failures_become_channel_errors(broker, monkeypatch):
    def broken(fn):
        raise OSError("connection reset")

    monkeypatch.setattr(broker, "_with_channel", broken)
    q = broker.queue("q")
    with pytest.raises(ChannelError, match="cannot read the length of .*connection reset"):
        broker.message_count(q)
    with pytest.raises(ChannelError, match="cannot purge"):
        broker.purge(q)
    with pytest.raises(ChannelError, match="cannot delete"):
        broker.delete(q)


def test_publish_failure_is_a_channel_error_and_drops_the_connection(broker, monkeypatch):
    q = broker.queue("pub")
    broker.publish(q, {"ok": 1})  # makes a connection, kept for the next caller
    assert len(broker._idle) == 1
    channel_type = type(broker._idle[0].default_channel)

    def refuse(*args, **kwargs):
        raise OSError("broker went away")

    monkeypatch.setattr(channel_type, "basic_publish", refuse)  # the kept connection and a fresh one
    with pytest.raises(ChannelError, match=r"cannot publish to .*pub: broker went away"):
        broker.publish(q, {"ok": 2})
    assert broker._idle == []  # the failed connections are not kept
    monkeypatch.undo()
    broker.publish(q, {"ok": 3})  # a fresh connection
    assert [broker.get(q, 1)["ok"] for _ in range(2)] == [1, 3]


def test_a_publish_on_a_stale_kept_connection_goes_out_on_a_fresh_one(broker):
    q = broker.queue("pub_after_restart")
    broker.declare(q)
    broker.close()
    dead = _DeadConnection()
    broker._idle = [dead]
    broker.publish(q, {"ok": 1})
    assert dead.released and broker.get(q, 1) == {"ok": 1}


def test_a_published_body_is_json_with_its_properties(broker):
    q = broker.queue("props")
    reply = broker.queue("props_reply")
    broker.declare(reply)
    broker.publish(q, {"n": 1, "s": "\u00e9"}, persistent=False, reply_to=reply.name, correlation_id="c1")
    got = []
    stop = threading.Event()

    def on_message(body, delivery):
        got.append(
            (
                body,
                delivery.content_type,
                delivery.properties.get("reply_to"),
                delivery.properties.get("correlation_id"),
            )
        )
        delivery.ack()
        stop.set()

    run_in_thread(broker.consume, [q], on_message, stop, poll=0.05).join(5)
    assert got == [({"n": 1, "s": "\u00e9"}, "application/json", reply.name, "c1")]


def test_a_no_declare_queue_is_published_to_without_declaring_it(broker, monkeypatch):
    reply = broker.queue("undeclared_reply")
    broker.declare(reply)
    target = Queue(reply.name, routing_key=reply.name, no_declare=True)
    monkeypatch.setattr(Queue, "declare", lambda self, *a, **k: pytest.fail("declared"))
    broker.publish(target, {"answer": 42})
    monkeypatch.undo()
    assert broker.get(reply, 1) == {"answer": 42}


def test_connections_are_pooled_not_kept_per_thread(broker):
    q = broker.queue("pooled")
    threads = [threading.Thread(target=broker.publish, args=(q, {"i": i})) for i in range(40)]
    for t in threads:
        t.start()
        t.join()  # one after the other, each on its own thread: one connection serves them all
    assert len(broker._idle) == 1 and broker.message_count(q) == 40
    busy = [broker._checkout() for _ in range(broker.max_idle + 3)]  # more callers at once
    for conn, _ in busy:
        broker._checkin(conn)
    assert len(broker._idle) == broker.max_idle  # the extra ones were released


UNREACHABLE = "amqp://127.0.0.1:1//"  # nothing listens on port 1: refused at once


def test_publish_and_count_on_an_unreachable_broker_are_channel_errors():
    broker = Broker(UNREACHABLE, retries=0)
    with pytest.raises(ChannelError, match="cannot (publish|connect)"):
        broker.publish(broker.queue("q"), {"a": 1})
    with pytest.raises(ChannelError, match="cannot read the length"):
        broker.message_count(broker.queue("q"))


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda b: b.connect(), id="connect"),
        pytest.param(lambda b: b.get(b.queue("q"), timeout=0), id="get"),
    ],
)
def test_an_unreachable_broker_is_a_channel_error(operation):
    broker = Broker(UNREACHABLE, retries=0)
    with pytest.raises(ChannelError):
        operation(broker)


def test_request_reply_with_correlation_id(broker):
    service = broker.queue("service")
    seen = {}

    def responder():
        responder_broker = Broker(broker.url, prefix=broker.prefix)
        body, props, _ = take_raw(responder_broker, service)
        seen.update(body=body, props=props)
        reply_queue = Queue(props["reply_to"], routing_key=props["reply_to"], no_declare=True)
        responder_broker.publish(
            reply_queue, {"answer": body["n"] * 2}, persistent=False, correlation_id=props["correlation_id"]
        )
        responder_broker.close()

    thread = run_in_thread(responder)
    deleted = []
    real_delete = broker.delete
    broker.delete = lambda q: (deleted.append(q.name), real_delete(q))
    assert broker.request(service, {"n": 21}, timeout=2) == {"answer": 42}
    thread.join(2)
    assert thread.error is None
    assert seen["body"] == {"n": 21}
    assert seen["props"]["reply_to"].startswith(broker.prefix + "reply_")
    assert len(seen["props"]["correlation_id"]) == 32
    assert deleted == [seen["props"]["reply_to"]]  # the private reply queue is removed


def test_request_without_an_answer_times_out_and_removes_its_reply_queue(broker):
    deleted = []
    broker.delete = lambda q: deleted.append(q)
    with pytest.raises(ChannelTimeout):
        broker.request(broker.queue("nobody_home"), {"n": 1}, timeout=0.1)
    assert len(deleted) == 1 and deleted[0].name.startswith(broker.prefix + "reply_")
    assert deleted[0].queue_arguments == {"x-expires": int((0.1 + 60) * 1000)}
    assert deleted[0].durable is False


# -- consume -------------------------------------------------------------------------------------


def consume_until(broker, queues, expected, timeout=3.0, **kwargs):
    """Run Broker.consume in a thread until ``expected`` bodies arrived (acking each)."""
    stop = threading.Event()
    seen = []

    def on_message(body, delivery):
        seen.append(body)
        delivery.ack()
        if len(seen) >= expected:
            stop.set()

    thread = run_in_thread(broker.consume, queues, on_message, stop, poll=0.05, **kwargs)
    thread.join(timeout)
    stop.set()
    thread.join(1)
    assert not thread.is_alive(), "consume did not stop"
    assert thread.error is None
    return seen


def test_consume_delivers_to_the_callback_and_stops_on_the_event(broker):
    q = broker.queue("consumed")
    for i in range(3):
        broker.publish(q, {"i": i})
    assert consume_until(broker, [q], 3) == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert broker.message_count(q) == 0


def test_consume_reads_several_queues(broker):
    a, b = broker.queue("qa"), broker.queue("qb")
    broker.publish(a, {"from": "a"})
    broker.publish(b, {"from": "b"})
    assert sorted(m["from"] for m in consume_until(broker, [a, b], 2)) == ["a", "b"]


@pytest.mark.parametrize(
    "payload, content_type",
    [(b"plain words", "text/plain"), (b"\x80\x04\x95pickled", "application/x-python-serialize")],
)
def test_consume_rejects_bodies_that_are_not_json(broker, caplog, payload, content_type):
    q = broker.queue("mixed")
    publish_raw(broker, q, payload, content_type)
    broker.publish(q, {"good": True})
    with caplog.at_level(logging.ERROR, logger="abaco_shared.broker"):
        assert consume_until(broker, [q], 1) == [{"good": True}]
    assert any("not JSON" in r.getMessage() for r in caplog.records)
    assert broker.message_count(q) == 0  # rejected, not requeued


def test_on_idle_is_called_while_nothing_arrives(broker):
    q = broker.queue("idle")
    stop = threading.Event()
    idles = []

    def on_idle():
        idles.append(time.monotonic())
        if len(idles) == 3:
            stop.set()

    def on_message(body, delivery):
        raise AssertionError("no message was sent")

    thread = run_in_thread(broker.consume, [q], on_message, stop, poll=0.05, on_idle=on_idle)
    thread.join(3)
    stop.set()
    thread.join(1)
    assert not thread.is_alive() and thread.error is None
    assert len(idles) == 3


def test_poll_may_be_asked_before_each_wait(broker):
    stop, asked, idles = threading.Event(), [], []

    def poll():
        asked.append(1)
        return 0.01 if len(asked) < 3 else 0.05

    def on_idle():
        idles.append(1)
        if len(idles) == 4:
            stop.set()

    queues = [broker.queue("polled")]
    thread = run_in_thread(broker.consume, queues, lambda b, d: None, stop, poll=poll, on_idle=on_idle)
    thread.join(3)
    stop.set()
    assert thread.error is None and len(asked) >= 4 and len(idles) == 4


def test_on_idle_runs_before_an_outage_is_waited_out():
    stop, idles = threading.Event(), []

    def on_idle():  # e.g. a worker's READY: not left unwritten for as long as the broker is away
        idles.append(1)
        stop.set()

    assert Broker(UNREACHABLE, retries=0).consume([Queue("q")], lambda b, d: None, stop, on_idle=on_idle) is True
    assert idles == [1]


def test_consume_returns_at_once_when_already_stopped(broker):
    stop = threading.Event()
    stop.set()
    broker.consume([broker.queue("x")], lambda b, d: None, stop, poll=0.05)


# -- channels ------------------------------------------------------------------------------------


def test_command_channel_send_spawn_and_length(broker):
    channel = CommandChannel(broker, "special")
    assert channel.queue.name == broker.prefix + "command_channel_special"
    channel.send_spawn(SPAWN)
    channel.send_spawn(dataclasses.replace(SPAWN, worker_id="W2", stop_existing=True))
    assert channel.length() == 2
    first = SpawnCommand.from_dict(broker.get(channel.queue, 1))
    assert first == SPAWN
    assert SpawnCommand.from_dict(broker.get(channel.queue, 1)).stop_existing is True
    assert channel.length() == 0


def test_mailbox_put_length_purge_delete(broker):
    mailbox = MailboxChannel(broker, "dev_A1")
    assert mailbox.queue.name == broker.prefix + "actor_msg_dev_A1" and mailbox.queue.durable
    msg = MailboxMessage(execution_id="E1", content_type="str", message="hi", env={"x": "1"}, executor="bob")
    mailbox.put(msg)
    assert take_raw(broker, mailbox.queue)[1]["delivery_mode"] == 2  # persistent
    mailbox.put(msg)
    mailbox.put(dataclasses.replace(msg, execution_id="E2"))
    assert mailbox.length() == 2
    assert MailboxMessage.from_dict(broker.get(mailbox.queue, 1)) == msg
    assert mailbox.purge() == 1
    assert mailbox.length() == 0
    mailbox.delete()


@pytest.mark.parametrize("command", list(WorkerCommandName))
def test_worker_channel_sends_every_command(broker, command):
    channel = WorkerChannel(broker, "W9")
    assert channel.queue.queue_arguments == {"x-expires": 3_600_000} and not channel.queue.durable
    channel.send(command, execution_id="E7")
    body, props, _ = take_raw(broker, channel.queue)
    assert props["delivery_mode"] == 1
    assert WorkerCommand.from_dict(body) == WorkerCommand(command.value, "E7")
    channel.send(command)
    assert WorkerCommand.from_dict(broker.get(channel.queue, 1)).execution_id == ""


@pytest.mark.parametrize("send, expected", [("send_ready", Barrier.READY), ("send_cancel", Barrier.CANCELLED)])
def test_spawner_worker_barrier(broker, send, expected):
    channel = SpawnerWorkerChannel(broker, "W3")
    assert channel.queue.queue_arguments == {"x-expires": 300_000}
    deleted = []
    real_delete = broker.delete
    broker.delete = lambda q: (deleted.append(q.name), real_delete(q))
    getattr(channel, send)()
    assert channel.wait_ready(timeout=1) == SpawnerReady(expected.value)
    assert deleted == [channel.queue.name]


def test_spawner_worker_wait_ready_times_out_and_still_deletes(broker):
    channel = SpawnerWorkerChannel(broker, "W4")
    deleted = []
    broker.delete = lambda q: deleted.append(q.name)
    with pytest.raises(ChannelTimeout):
        channel.wait_ready(timeout=0.05)
    assert deleted == [channel.queue.name]


def test_spawner_worker_wait_ready_refuses_an_unknown_status(broker):
    channel = SpawnerWorkerChannel(broker, "W5")
    broker.publish(channel.queue, {"v": 1, "status": "MAYBE"})
    with pytest.raises(ValidationError, match="unknown status 'MAYBE'"):
        channel.wait_ready(timeout=1)


def test_clients_channel_request_and_reply(broker):
    clients = ClientsChannel(broker)
    request = ClientRequest(command="create", tenant="dev", actor_dbid="dev_A", worker_id="W1")

    def clientg():
        other = Broker(broker.url, prefix=broker.prefix)
        body, props, _ = take_raw(other, ClientsChannel(other).queue)
        got = ClientRequest.from_dict(body)
        reply = ClientReply(status="ok", client_id=f"client-{got.worker_id}", message=got.command)
        ClientsChannel(other).reply(props["reply_to"], props["correlation_id"], reply)
        other.close()

    thread = run_in_thread(clientg)
    answer = clients.request(request, timeout=2)
    thread.join(2)
    assert thread.error is None
    assert answer == ClientReply(status="ok", client_id="client-W1", message="create")


def test_results_and_events_channels(broker):
    results = ResultsChannel(broker, "dev_A", "E1")
    assert results.queue.name == broker.prefix + "results_dev_A_E1"
    assert results.queue.queue_arguments == {"x-expires": 1_200_000}
    events = EventsChannel(broker)
    event = {k: "x" for k in ("tenant_id", "event_type", "actor_id", "actor_dbid", "_abaco_link", "_abaco_webhook")}
    events.publish(EventMessage(event=event))
    assert events.queue.name == broker.prefix + "events_channel_default"
    assert broker.get(events.queue, 1) == {"v": 1, "event": event}


# -- wire messages -------------------------------------------------------------------------------

ALL_MESSAGES = [
    SPAWN,
    dataclasses.replace(SPAWN, stop_existing=True),
    MailboxMessage(execution_id="E", content_type="application/json", message={"a": [1]}, env={"k": "v"}),
    MailboxMessage(execution_id="E", content_type="application/octet-stream", message="AAEC", executor="u"),
    WorkerCommand("stop-no-delete", "E1"),
    SpawnerReady(),
    SpawnerReady("CANCELLED"),
    ClientRequest(command="delete", tenant="dev", actor_dbid="A", worker_id="W", client_id="c1"),
    ClientReply(status="error", message="no such client"),
]


@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=lambda m: type(m).__name__)
def test_every_wire_class_round_trips_through_the_broker(broker, msg):
    q = broker.queue("wire")
    body = msg.to_dict()
    assert body["v"] == 1
    broker.publish(q, body)
    received = broker.get(q, 1)
    assert received["v"] == 1
    assert type(msg).from_dict(received) == msg


def test_defaults_fill_in_missing_optional_fields():
    assert MailboxMessage.from_dict({"v": 1, "execution_id": "E", "content_type": "str"}) == MailboxMessage(
        execution_id="E", content_type="str", message=None, env={}, executor=""
    )
    assert SpawnerReady.from_dict({"v": 1}).status == "READY"
    assert WorkerCommand.from_dict({"v": 1, "command": "status"}).execution_id == ""


def test_unknown_barrier_status_and_worker_command_are_rejected():
    with pytest.raises(ValidationError, match="spawner ready: unknown status 'GO'"):
        SpawnerReady.from_dict({"v": 1, "status": "GO"})
    with pytest.raises(ValidationError, match="unknown status"):
        SpawnerReady("ready")  # case matters
    with pytest.raises(ValidationError, match="worker command: unknown command 'reboot'"):
        WorkerCommand("reboot")


@pytest.mark.parametrize(
    "cls, body, fragment",
    [
        (SpawnCommand, {**SPAWN.to_dict(), "revision": "3"}, "'revision' has the wrong type"),
        (SpawnCommand, {**SPAWN.to_dict(), "stop_existing": "yes"}, "'stop_existing' has the wrong type"),
        (SpawnCommand, {**SPAWN.to_dict(), "image": None}, "'image' has the wrong type"),
        (SpawnCommand, {k: v for k, v in SPAWN.to_dict().items() if k != "tenant"}, "missing field 'tenant'"),
        (SpawnCommand, {**SPAWN.to_dict(), "v": 2}, "unsupported schema version 2"),
        (SpawnCommand, {k: v for k, v in SPAWN.to_dict().items() if k != "v"}, "unsupported schema version None"),
        (MailboxMessage, {"v": 1, "execution_id": 5, "content_type": "str"}, "'execution_id' has the wrong type"),
        (MailboxMessage, {"v": 1, "execution_id": "E", "content_type": "str", "executor": 1}, "'executor'"),
        (ClientReply, {"v": 1, "status": True}, "'status' has the wrong type"),
        (ClientRequest, {"v": 1, "command": "create"}, "missing field 'tenant'"),
        (SpawnerReady, ["READY"], "body must be a JSON object"),
        (ClientReply, None, "client reply: body must be a JSON object"),
    ],
)
def test_wrong_bodies_are_rejected(cls, body, fragment):
    with pytest.raises(ValidationError, match=fragment):
        cls.from_dict(body)


def test_unknown_extra_fields_are_ignored():
    body = {**SPAWN.to_dict(), "future_field": 1}
    assert SpawnCommand.from_dict(body) == SPAWN


# -- publisher confirms, as py-amqp delivers them (kombu's memory transport has none) ----------


class ConfirmingChannel:
    """What publishing needs of a py-amqp channel in confirm mode. Each publish takes the next
    delivery tag; ``answer(tags)`` says how the broker confirms a written batch: a list of
    ("ack" | "nack", tag, multiple), delivered when the connection is drained."""

    def __init__(self, answer=None):
        self.events = {"basic_ack": set(), "basic_nack": set()}
        self._confirm_selected = False
        self.selects = 0
        self.tag = 0
        self.written: list[int] = []
        self.answer = answer or (lambda tags: [("ack", tags[-1], True)])
        self.connection = self
        self.drains = 0
        self.dead = False

    def confirm_select(self):
        self.selects += 1

    def prepare_message(self, body, priority, content_type, encoding, headers, properties):
        return (body, properties)

    def _basic_publish(self, message, exchange, routing_key, timeout=None):
        assert timeout is not None and timeout > 0  # a write never waits without a bound
        if self.dead:
            raise ConnectionResetError("Connection reset by peer")
        self.tag += 1
        self.written.append(self.tag)

    def drain_events(self, timeout=None):
        self.drains += 1
        batch, self.written = self.written, []
        answers = self.answer(batch) if batch else []
        if not answers:
            raise TimeoutError("timed out")
        for kind, tag, multiple in answers:
            for callback in list(self.events[f"basic_{kind}"]):
                callback(tag, multiple)


class ChannelConnection:
    connected = True

    def __init__(self, channel):
        self.default_channel = channel
        self.released = False
        self.collected = False

    def release(self):
        self.released = True

    def collect(self):  # closed without the AMQP handshake
        self.collected = True


def confirming_broker(monkeypatch, channel, confirm_timeout=5.0):
    broker = Broker("memory://", retries=0, confirm_timeout=confirm_timeout)
    conn = ChannelConnection(channel)
    monkeypatch.setattr(broker, "_checkout", lambda fresh=False: (conn, False))
    return broker, conn


def outgoing(n, name="confirm_q"):
    from abaco_shared.broker import Outgoing

    queue = Queue(name, routing_key=name, no_declare=True)
    return [Outgoing(queue, f'{{"i": {i}}}', {"delivery_mode": 2}) for i in range(n)]


def test_a_batch_is_written_then_confirmed_with_one_wait(monkeypatch):
    channel = ConfirmingChannel()
    broker, conn = confirming_broker(monkeypatch, channel)
    assert broker.publish_batch(outgoing(3)) == [None, None, None]
    assert channel.selects == 1 and channel._confirm_selected and channel.drains == 1
    assert broker.publish_batch(outgoing(2)) == [None, None]  # tags go on: 4 and 5
    assert channel.selects == 1 and channel.tag == 5
    assert conn in broker._idle and not conn.released


def test_single_acks_settle_only_their_own_tag(monkeypatch):
    channel = ConfirmingChannel(lambda tags: [("ack", t, False) for t in reversed(tags)])
    broker, _ = confirming_broker(monkeypatch, channel)
    assert broker.publish_batch(outgoing(4)) == [None] * 4


def test_a_nacked_message_fails_only_its_own_caller(monkeypatch):
    answers = [("ack", 0, False), ("nack", 1, False), ("ack", 2, False)]
    channel = ConfirmingChannel(lambda tags: [(kind, tags[i], multiple) for kind, i, multiple in answers])
    broker, _ = confirming_broker(monkeypatch, channel)
    first, second, third = broker.publish_batch(outgoing(3))
    assert first is None and third is None
    assert isinstance(second, ChannelError) and "refused the message" in str(second)


def test_a_multiple_nack_fails_every_unsettled_tag_up_to_it(monkeypatch):
    channel = ConfirmingChannel(lambda tags: [("ack", tags[0], False), ("nack", tags[2], True)])
    broker, _ = confirming_broker(monkeypatch, channel)
    out = broker.publish_batch(outgoing(4))
    assert out[0] is None
    assert all(isinstance(e, ChannelError) for e in out[1:3])
    assert isinstance(out[3], ChannelError)  # never settled: the wait timed out


def test_a_publish_never_confirmed_fails_and_its_connection_is_not_kept(monkeypatch):
    channel = ConfirmingChannel(lambda tags: [])
    broker, conn = confirming_broker(monkeypatch, channel, confirm_timeout=0.2)
    out = broker.publish_batch(outgoing(2))
    assert all(isinstance(e, ChannelError) for e in out)
    assert conn.collected and broker._idle == []  # closed at once: a stuck broker would not answer a close


def test_publish_raises_its_own_outcome(monkeypatch):
    channel = ConfirmingChannel(lambda tags: [("nack", tags[-1], True)])
    broker, _ = confirming_broker(monkeypatch, channel)
    with pytest.raises(ChannelError, match="cannot publish to .*mail.*refused"):
        broker.publish(Queue("mail", routing_key="mail", no_declare=True), {"a": 1})


def test_a_refused_declare_sends_each_message_of_the_batch_alone(monkeypatch):
    # a declare that the broker refuses closes the channel before anything is written: the
    # other messages of the batch must not fail with it
    broker = Broker("memory://", retries=0)
    good, bad = broker.queue("fine"), broker.queue("refused")
    real_declare = Queue.declare

    def declare(self, *args, **kwargs):
        if self.name == bad.name:
            raise amqp.exceptions.PreconditionFailed("PRECONDITION_FAILED - inequivalent arg")
        return real_declare(self, *args, **kwargs)

    monkeypatch.setattr(Queue, "declare", declare)
    from abaco_shared.broker import Outgoing

    items = [Outgoing(q, '{"a": 1}', {"delivery_mode": 2}) for q in (good, bad, good)]
    out = broker.publish_batch(items)
    assert out[0] is None and out[2] is None
    assert isinstance(out[1], ChannelError) and "inequivalent" in str(out[1])
    monkeypatch.undo()
    assert broker.message_count(good) == 2


def test_a_kept_connection_found_dead_at_write_is_replaced_once(monkeypatch):
    dead, fresh = ConfirmingChannel(), ConfirmingChannel()
    dead.dead = True
    broker = Broker("memory://", retries=0)
    kept, new = ChannelConnection(dead), ChannelConnection(fresh)
    checkouts = iter([(kept, True), (new, False)])
    monkeypatch.setattr(broker, "_checkout", lambda fresh=False: next(checkouts))
    assert broker.publish_batch(outgoing(3)) == [None, None, None]
    assert kept.collected and fresh.tag == 3 and broker._idle == [new]


def test_a_confirm_timeout_on_a_kept_connection_is_not_sent_again(monkeypatch):
    # the broker is slow or blocked, not gone: publishing the batch again would duplicate it
    slow, spare = ConfirmingChannel(lambda tags: []), ConfirmingChannel()
    broker = Broker("memory://", retries=0, confirm_timeout=0.2)
    kept, other = ChannelConnection(slow), ChannelConnection(spare)
    checkouts = iter([(kept, True), (other, False)])
    monkeypatch.setattr(broker, "_checkout", lambda fresh=False: next(checkouts))
    out = broker.publish_batch(outgoing(2))
    assert all(isinstance(e, ChannelError) for e in out)
    assert spare.tag == 0 and kept.collected  # nothing went out a second time


class WireChannel(ConfirmingChannel):
    """A confirming channel on a real TCP transport (a socket pair): publishes take the wire
    path (amqpwire), and ``drain`` says what the broker does while confirms are awaited."""

    def __init__(self, drain):
        import socket

        from amqp.transport import TCPTransport

        super().__init__()
        self.ours, self.theirs = socket.socketpair()
        self.transport = TCPTransport.__new__(TCPTransport)
        self.transport.sock, self.transport.connected = self.ours, True
        self.transport._setup_transport()
        self.frame_max, self.bytes_sent, self.channel_id = 131072, 0, 1
        self.drain = drain

    def prepare_message(self, body, priority, content_type, encoding, headers, properties):
        from amqp.basic_message import Message

        return Message(body, content_type=content_type, content_encoding=encoding, **properties)

    def drain_events(self, timeout=None):
        self.drains += 1
        self.drain(self, timeout)


def test_a_broker_that_closes_the_connection_meanwhile_is_the_error_reported(monkeypatch):
    def close(channel, timeout):  # as py-amqp does on connection.close: the socket goes, then it raises
        channel.ours.close()
        raise amqp.exceptions.ConnectionForced("CONNECTION_FORCED - broker forced connection closure")

    channel = WireChannel(close)
    broker, conn = confirming_broker(monkeypatch, channel)
    out = broker.publish_batch(outgoing(2))
    assert all(isinstance(e, ChannelError) and "CONNECTION_FORCED" in str(e) for e in out), out
    assert conn.collected


def test_on_the_wire_each_wait_for_confirms_leaves_the_socket_timeout_as_it_is(monkeypatch):
    timeouts = []

    def ack(channel, timeout):
        timeouts.append((timeout, channel.ours.gettimeout()))
        for callback in list(channel.events["basic_ack"]):
            callback(2, True)

    channel = WireChannel(ack)
    channel.ours.settimeout(None)
    broker, _ = confirming_broker(monkeypatch, channel, confirm_timeout=5.0)
    assert broker.publish_batch(outgoing(2)) == [None, None]
    assert timeouts == [(5, 5)]  # the wait asks for what the socket has: py-amqp sets nothing
    assert channel.ours.gettimeout() is None  # set back after the batch
    assert len(channel.theirs.recv(65536)) > 0  # the frames went out
