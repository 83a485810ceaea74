"""A batch of publishes on a RabbitMQ socket: one write for all their frames, and reads that take
whatever has arrived.

py-amqp sends each publish on its own: per message it sets the socket's timeout and sets it back,
checks the socket for a ``connection.blocked`` notice (two more settings and a receive), then
writes. It reads each incoming frame with three receives (its header, its payload, its end
byte), and on a socket with a timeout every receive and every send is preceded by a poll. Each
of those calls lets the GIL go, which under load means another thread takes it and this one waits
to get it back. The messages API publishes and confirms every message it accepts: that came to
about ten system calls per message.

``Publishes`` builds the frames of a batch with py-amqp's own frame writer (so they are exactly
what ``basic_publish`` sends) and writes them at once; ``read_ahead`` lets a connection's reads
take up to ``READ_AHEAD`` bytes, so that the confirms of a batch, which arrive together, are
read by one receive and then parsed from py-amqp's buffer. Only a plain TCP connection is
handled here (``supports``); on any other transport publish as py-amqp does.
"""

from __future__ import annotations

from typing import Any

from amqp import spec
from amqp.method_framing import frame_writer
from amqp.serialization import dumps
from amqp.transport import TCPTransport

__all__ = ["Publishes", "read_ahead", "supports", "READ_AHEAD"]

READ_AHEAD = 65536  # bytes a receive may take beyond the frame asked for
FLUSH_AT = 262144  # bytes of frames held before they are written (a batch of large messages)
_PUBLISH_ARGS = "Bssbb"  # Basic.Publish: reserved, exchange, routing key, mandatory, immediate


def supports(channel: Any) -> bool:
    """A py-amqp channel on a plain TCP connection (not TLS, not kombu's in-memory transport)."""
    return isinstance(getattr(getattr(channel, "connection", None), "transport", None), TCPTransport)


class _Sink:
    """Where py-amqp's frame writer writes: a list of copies (the writer reuses its buffer)."""

    __slots__ = ("frames", "size")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.size = 0

    def write(self, data: Any) -> None:
        chunk = bytes(data)
        self.frames.append(chunk)
        self.size += len(chunk)

    def take(self) -> bytes:
        data = b"".join(self.frames)
        self.frames.clear()
        self.size = 0
        return data


class Publishes:
    """Frames of publishes on one channel, written to its socket together (``flush``)."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.transport = channel.connection.transport
        self._sink, self._write_frame = _writer(channel.connection)

    def add(self, message: Any, routing_key: str, exchange: str = "") -> bool:
        """The frames of one ``basic_publish`` of ``message`` (an amqp Message); True when the
        frames held reach FLUSH_AT and should be written (``flush``) before more are added."""
        args = dumps(_PUBLISH_ARGS, (0, exchange, routing_key, False, False))
        self._write_frame(1, self.channel.channel_id, spec.Basic.Publish, args, message)
        return self._sink.size >= FLUSH_AT

    def flush(self) -> None:
        """Write every frame added so far (one send, under the socket's current timeout)."""
        if self._sink.size:
            self.transport.write(self._sink.take())


def _writer(connection: Any) -> tuple[_Sink, Any]:
    """The connection's frame writer into a sink, made once (it holds a frame-sized buffer)."""
    kept = connection.__dict__.get("_abaco_frames")
    if kept is None:
        sink = _Sink()
        kept = (sink, frame_writer(connection, sink))
        connection.__dict__["_abaco_frames"] = kept
    kept[0].take()  # nothing left from a batch that failed halfway
    return kept


def read_ahead(transport: TCPTransport) -> None:
    """Let ``transport``'s receives take what has arrived, up to READ_AHEAD bytes, not only the
    bytes of the frame asked for; py-amqp keeps the rest in its buffer for the next frames.

    A receive returns what the socket holds at once, so it never waits for more than before.
    Nothing else may wait for this socket to be readable while frames sit in that buffer: it
    is for connections that only py-amqp reads (the publishers' here)."""
    if transport.__dict__.get("_abaco_read_ahead") is transport.sock:
        return
    recv = transport.sock.recv

    def receive(n: int) -> bytes:
        return recv(max(n, READ_AHEAD))

    transport._quick_recv = receive
    transport.__dict__["_abaco_read_ahead"] = transport.sock
