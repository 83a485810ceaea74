"""Publishing a batch of JSON messages on one channel: declare the queues, write every frame, then
wait once for all the publisher confirms (the broker's ack or nack of each message).

On a plain TCP connection the frames go out in one write and the confirms are read together
(``amqpwire``); other transports (TLS, kombu's in-memory one) publish message by message. Only
``Broker`` (``broker.py``) uses this: it leases the channel and decides what to retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Queue

from . import amqpwire
from .errors import ChannelError, ChannelTimeout

__all__ = ["Outgoing", "PublishBatch", "JSON_TYPE", "JSON_ENCODING"]

JSON_TYPE, JSON_ENCODING = "application/json", "utf-8"  # what kombu's json serializer says


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: its queue, JSON text and AMQP properties (``Broker.outgoing``)."""

    queue: Queue
    payload: str
    properties: dict[str, Any]


def _publish_error(item: Outgoing, exc: BaseException | str) -> ChannelError:
    err = ChannelError(f"cannot publish to {item.queue.name}: {exc}")
    if isinstance(exc, BaseException):
        err.__cause__ = exc
    return err


@dataclass
class _Confirms:
    """A channel's publisher confirms: the delivery tag of its last publish, and which of the
    current batch's tags the broker has acked (True) or nacked (False)."""

    last_tag: int = 0
    settled: dict[int, bool | None] = field(default_factory=dict)

    @classmethod
    def of(cls, channel: Any) -> _Confirms | None:
        """The channel's tracker (confirm mode is switched on at its first use); None for a
        transport without confirms (kombu's in-memory one, in unit tests)."""
        confirms = channel.__dict__.get("_abaco_confirms")
        if confirms is None:
            if not hasattr(channel, "confirm_select") or not hasattr(channel, "events"):
                return None
            confirms = cls()
            channel.events["basic_ack"].add(lambda tag, multiple: confirms.settle(tag, multiple, True))
            channel.events["basic_nack"].add(lambda tag, multiple: confirms.settle(tag, multiple, False))
            if not channel._confirm_selected:
                channel.confirm_select()
                channel._confirm_selected = True
            channel.__dict__["_abaco_confirms"] = confirms
        return confirms

    def settle(self, tag: int, multiple: bool, ok: bool) -> None:
        if not multiple:
            if tag in self.settled:
                self.settled[tag] = ok
            return
        for t, state in self.settled.items():
            if t <= tag and state is None:
                self.settled[t] = ok

    def unsettled(self) -> bool:
        return any(state is None for state in self.settled.values())


class PublishBatch:
    """Publishing a batch on one channel: declare its queues, write every frame, then wait once
    for all the confirms."""

    def __init__(self, items: Sequence[Outgoing], confirm_timeout: float) -> None:
        self.channel: Any = None
        self.items = items
        self.confirm_timeout = confirm_timeout
        self.tags: list[int] = []
        self.confirms: _Confirms | None = None
        self.written = False

    def declare(self, channel: Any) -> None:
        self.channel = channel
        declared: set[str] = self.channel.__dict__.setdefault("_abaco_declared", set())
        for item in self.items:
            queue = item.queue
            if not getattr(queue, "no_declare", False) and queue.name not in declared:
                queue.bind(self.channel).declare()
                declared.add(queue.name)

    def write(self) -> None:
        channel = self.channel
        self.confirms = confirms = _Confirms.of(channel)
        messages = [
            (channel.prepare_message(i.payload, 0, JSON_TYPE, JSON_ENCODING, {}, dict(i.properties)), i)
            for i in self.items
        ]
        if confirms is None:  # no confirms on this transport: a publish is done once written
            for message, item in messages:
                channel.basic_publish(message, exchange="", routing_key=item.queue.routing_key)
            self.written = True
            return
        confirms.settled = {}
        deadline = time.monotonic() + self.confirm_timeout  # for the writes and the confirms
        if not amqpwire.supports(channel):
            for message, item in messages:
                self._tag(confirms)
                # bounded: a broker that stopped reading (a memory alarm) fills the socket's buffer
                timeout = max(deadline - time.monotonic(), 0.001)
                channel._basic_publish(message, exchange="", routing_key=item.queue.routing_key, timeout=timeout)
            self.written = True
            self._await_confirms(confirms, deadline, lambda remaining: remaining)
            return
        # on a TCP connection: every frame in one write, and confirms read together (amqpwire).
        # The socket's timeout is what is left of the deadline, in whole seconds, set when that
        # changes (rarely within a batch): each wait for confirms asks for the same, so that
        # py-amqp leaves the socket alone. It is set back afterwards, unless the socket was
        # closed meanwhile (a broker that closed the connection: its error is the one raised).
        transport = channel.connection.transport
        sock = transport.sock
        amqpwire.read_ahead(transport)
        before = sock.gettimeout()

        def remaining_seconds() -> int:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout(f"the broker took no publish within {self.confirm_timeout:.0f}s")
            seconds = math.ceil(left)
            if sock.gettimeout() != seconds:
                sock.settimeout(seconds)
            return seconds

        try:
            frames = amqpwire.Publishes(channel)
            for message, item in messages:
                self._tag(confirms)
                if frames.add(message, item.queue.routing_key):  # a part of a large batch is due
                    remaining_seconds()
                    frames.flush()
            remaining_seconds()
            frames.flush()
            self.written = True
            self._await_confirms(confirms, deadline, lambda _: remaining_seconds())
        finally:
            try:
                sock.settimeout(before)
            except OSError:  # closed under us
                pass

    def _tag(self, confirms: _Confirms) -> None:
        confirms.last_tag += 1
        self.tags.append(confirms.last_tag)
        confirms.settled[confirms.last_tag] = None

    def _await_confirms(self, confirms: _Confirms, deadline: float, wait: Callable[[float], float]) -> None:
        while confirms.unsettled():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout(f"the broker confirmed no publish within {self.confirm_timeout:.0f}s")
            self.channel.connection.drain_events(timeout=wait(remaining))

    @property
    def confirmed_any(self) -> bool:
        return self.confirms is not None and any(self.confirms.settled.get(t) for t in self.tags)

    def outcomes(self, failure: BaseException | None) -> list[ChannelError | None]:
        """Each item's outcome: None once acked; else why not (``failure``, or the broker's nack)."""
        if self.confirms is None or not self.tags:
            if failure is None:
                return [None] * len(self.items)
            return [_publish_error(item, failure) for item in self.items]
        out: list[ChannelError | None] = []
        for i, item in enumerate(self.items):
            state = self.confirms.settled.get(self.tags[i]) if i < len(self.tags) else None
            if state:
                out.append(None)
            elif state is False:
                out.append(_publish_error(item, "the broker refused the message (nack)"))
            else:
                out.append(_publish_error(item, failure or "no confirm"))
        return out
