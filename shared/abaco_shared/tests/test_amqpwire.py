"""Publishes written together and frames read ahead (``amqpwire``), over a socket pair."""

import socket
import types

import pytest
from amqp import spec
from amqp.basic_message import Message
from amqp.method_framing import frame_handler
from amqp.serialization import loads
from amqp.transport import TCPTransport

from abaco_shared import amqpwire


class CountingSocket:
    """A socket whose sends and receives are counted."""

    def __init__(self, sock):
        self.sock = sock
        self.recvs = 0
        self.sends = 0

    def recv(self, n):
        self.recvs += 1
        return self.sock.recv(n)

    def sendall(self, data):
        self.sends += 1
        return self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def transport_over(sock):
    transport = TCPTransport.__new__(TCPTransport)  # a connected transport without a broker
    transport.sock = sock
    transport.connected = True
    transport._setup_transport()
    return transport


@pytest.fixture
def wire():
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.settimeout(5)
    writer, reader = CountingSocket(ours), CountingSocket(theirs)
    connection = types.SimpleNamespace(frame_max=4096, bytes_sent=0)
    connection.transport = transport_over(writer)
    channel = types.SimpleNamespace(channel_id=3, connection=connection)
    yield channel, writer, transport_over(reader), reader
    ours.close()
    theirs.close()


def read_publishes(transport, connection, count):
    """What a broker reads: each Basic.Publish's routing key, body and properties."""
    got = []

    def on_method(channel, method_sig, args, content):
        assert (channel, method_sig) == (3, spec.Basic.Publish)
        _, exchange, routing_key, mandatory, immediate = loads("Bssbb", args, 4)[0]
        got.append((exchange, routing_key, content.body, content.properties))

    on_frame = frame_handler(connection, on_method, content_methods={spec.Basic.Publish})  # read as the broker does
    while len(got) < count:
        on_frame(transport.read_frame())
    return got


def test_a_batch_of_publishes_is_one_write_of_the_frames_basic_publish_sends(wire):
    channel, writer, broker_side, _ = wire
    big = b"x" * 10_000  # more than a frame (frame_max 4096): split into body frames
    messages = [
        Message(b'{"i": 1}', content_type="application/json", content_encoding="utf-8", delivery_mode=2),
        Message(big, content_type="application/octet-stream", delivery_mode=1, application_headers={"k": "v"}),
        Message(b"", content_type="text/plain"),
    ]
    frames = amqpwire.Publishes(channel)
    for i, message in enumerate(messages):
        frames.add(message, f"q{i}")
    assert writer.sends == 0
    frames.flush()
    assert writer.sends == 1
    got = read_publishes(broker_side, types.SimpleNamespace(bytes_recv=0), 3)
    assert [(e, k, b) for e, k, b, _ in got[:2]] == [("", "q0", b'{"i": 1}'), ("", "q1", big)]
    assert got[2][:2] == ("", "q2") and not got[2][2]  # no body frame: py-amqp reads it as ""
    assert got[0][3]["delivery_mode"] == 2 and got[0][3]["content_type"] == "application/json"
    assert got[1][3]["application_headers"] == {"k": "v"} and got[1][3]["delivery_mode"] == 1


def test_a_large_batch_says_when_a_part_is_due(wire, monkeypatch):
    channel, writer, broker_side, _ = wire
    monkeypatch.setattr(amqpwire, "FLUSH_AT", 1000)
    frames = amqpwire.Publishes(channel)
    due = [frames.add(Message(b"y" * 600), "q") for _ in range(4)]
    assert due == [False, True, True, True]  # the frames held reach FLUSH_AT at the second message
    frames.flush()
    assert writer.sends == 1 and not frames.add(Message(b"y"), "q")  # written: nothing held
    frames.flush()
    assert len(read_publishes(broker_side, types.SimpleNamespace(bytes_recv=0), 5)) == 5


def test_frames_that_arrived_together_are_read_with_one_receive(wire):
    channel, _, broker_side, reader = wire
    frames = amqpwire.Publishes(channel)
    for _ in range(5):
        frames.add(Message(b"z"), "q")
    frames.flush()
    amqpwire.read_ahead(broker_side)
    amqpwire.read_ahead(broker_side)  # once is enough: a second call changes nothing
    assert len(read_publishes(broker_side, types.SimpleNamespace(bytes_recv=0), 5)) == 5
    assert reader.recvs == 1  # py-amqp alone: three per frame (header, payload, end), 15 frames


def test_a_receive_that_times_out_keeps_what_was_read(wire):
    channel, _, broker_side, _ = wire
    amqpwire.read_ahead(broker_side)
    frames = amqpwire.Publishes(channel)
    frames.add(Message(b"w"), "q")
    data = frames._sink.take()
    channel.connection.transport.sock.sendall(data[:5])  # part of the first frame's header
    broker_side.sock.settimeout(0.05)
    with pytest.raises(socket.timeout):
        broker_side.read_frame()
    channel.connection.transport.sock.sendall(data[5:])
    broker_side.sock.settimeout(5)
    assert read_publishes(broker_side, types.SimpleNamespace(bytes_recv=0), 1)[0][2] == b"w"


def test_only_a_plain_tcp_channel_is_supported(wire):
    channel = wire[0]
    assert amqpwire.supports(channel)
    assert not amqpwire.supports(types.SimpleNamespace(connection=types.SimpleNamespace(transport=object())))
    assert not amqpwire.supports(object())
