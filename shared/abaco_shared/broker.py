"""The RabbitMQ connection layer over kombu: JSON only, a small pool of kept connections; publishing
retries a bounded number of times, consuming waits out an outage for as long as it takes.

Channels (``channels.py``) name queues and offer verbs; this module only moves JSON bodies. A
batch's publishing on its leased channel (frames and confirms) is ``publishing.py``'s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from amqp.exceptions import ChannelError as AmqpChannelError
from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import ConsumerCancelled, NotFound
from kombu import Connection, Consumer, Queue
from kombu.exceptions import OperationalError
from kombu.message import Message as Delivery

from .errors import ChannelError, ChannelTimeout
from .groupcommit import GroupCommit
from .outages import RABBITMQ, Outage, store_of
from .publishing import Outgoing, PublishBatch

__all__ = ["Broker", "Delivery", "Outgoing", "Queue"]

log = logging.getLogger(__name__)

ACCEPT = ["json"]


def _log_retry(exc: Exception, interval: float) -> None:
    # debug only: a caller that gives up says so once (a 503, or its loop's Outage), not per try
    log.debug("broker unreachable, retrying in %.1fs: %s", interval, exc)


def _missing_queue(exc: BaseException) -> bool:
    """A passive declare (or purge, delete) of a queue that does not exist: RabbitMQ says
    NotFound; kombu's in-memory transport raises a channel error with code 404."""
    return isinstance(exc, NotFound) or "(404) NOT_FOUND" in str(exc)


def _stale(exc: BaseException) -> bool:
    """A kept connection's failure at its first use after the broker went away (a reset or closed
    socket), as opposed to a broker that is slow, blocked or refusing: only the first is worth
    one more try on a fresh connection (a retried publish may be a duplicate)."""
    if isinstance(exc, TimeoutError | ChannelTimeout) or "timed out" in str(exc):
        return False
    return isinstance(exc, OSError | AmqpConnectionError | OperationalError)


def _discard(conn: Connection) -> None:
    """Drop a connection that failed: its socket is closed at once, without AMQP's close
    handshake, which a broker that stopped reading (a memory alarm) would never answer."""
    try:
        conn.collect()
    except Exception as exc:
        log.debug("discarding a broker connection: %s", exc)


def _release(conn: Connection) -> None:
    try:
        conn.release()
    except Exception as exc:  # a dead connection may fail to close: it is gone either way
        log.debug("releasing a broker connection: %s", exc)


class Broker:
    """Owns kombu connections to one broker URL.

    Publishing and queue operations lease a connection from a pool: the last one given back is
    the next one taken, and at most ``max_idle`` are kept, so a process holds about as many
    connections as it has callers at once, not one per thread (the messages API has hundreds of
    threads, and each once held a connection). A kept connection found dead is replaced once.
    Consumers get their own connection from :meth:`consume`. Every connect is retried at most
    ``retries`` times, then :class:`ChannelError` is raised.
    """

    def __init__(
        self, url: str, retries: int = 5, prefix: str = "", max_idle: int = 16, confirm_timeout: float = 30.0
    ) -> None:
        self.url = url
        self.retries = retries
        self.prefix = prefix
        self.max_idle = max_idle
        self.confirm_timeout = confirm_timeout  # a publish the broker never confirms fails then
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._publishes: GroupCommit[Outgoing, None] = GroupCommit(self.publish_batch)

    # -- connections -------------------------------------------------------------------------
    def connect(self, retries: int | None = None) -> Connection:
        """A new, connected kombu Connection (the caller owns and closes it), tried ``retries``
        more times (default: this broker's ``retries``) before a ChannelError."""
        # publisher confirms: publish() returns only once the broker has taken the message
        conn = Connection(self.url, heartbeat=0, connect_timeout=5, transport_options={"confirm_publish": True})
        retries = self.retries if retries is None else retries
        try:
            conn.ensure_connection(max_retries=retries, errback=_log_retry, interval_max=2)
        except conn.connection_errors + conn.channel_errors + (OSError, OperationalError) as exc:
            conn.release()  # channel errors too: a login refused while the broker starts up
            raise ChannelError(f"cannot connect to the message broker: {exc}") from exc
        return conn

    def _checkout(self, fresh: bool = False) -> tuple[Connection, bool]:
        """A connection, and whether it was kept from an earlier use (never, when ``fresh``)."""
        while not fresh:
            with self._lock:
                kept = self._idle.pop() if self._idle else None
            if kept is None:
                break
            if kept.connected:
                return kept, True
            _release(kept)
        return self.connect(), False

    def _checkin(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        _release(conn)

    def close(self) -> None:
        """Release every kept connection (leased ones go when they are given back)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _release(conn)

    # -- queues ------------------------------------------------------------------------------
    def queue(self, name: str, durable: bool = True, expires: float | None = None, auto_delete: bool = False) -> Queue:
        """A queue on the default exchange, named with this broker's prefix."""
        args = {"x-expires": int(expires * 1000)} if expires else None
        full = self.prefix + name
        return Queue(
            full,
            routing_key=full,
            durable=durable,
            auto_delete=auto_delete,
            queue_arguments=args,
        )

    def publish(self, queue: Queue, body: dict[str, Any], persistent: bool = True, **props: Any) -> None:
        """Publish one JSON body to ``queue`` (declared once per connection, unless it is a
        ``no_declare`` queue such as a reply queue) and wait for the broker's confirm; an
        unreachable broker, or one that refuses the message, is a ChannelError.

        Publishes from threads that call at once go out together (``groupcommit``): one leased
        connection, every frame written, then one wait for all their confirms.
        """
        self._publishes.submit(self.outgoing(queue, body, persistent, **props))

    @staticmethod
    def outgoing(queue: Queue, body: dict[str, Any], persistent: bool = True, **props: Any) -> Outgoing:
        """A message for :meth:`publish_batch`: ``body`` as JSON, for ``queue``."""
        return Outgoing(queue, json.dumps(body), {"delivery_mode": 2 if persistent else 1, **props})

    def publish_batch(self, items: Sequence[Outgoing]) -> list[ChannelError | None]:
        """Write ``items`` on one leased connection, as :meth:`publish` does a batch of callers'
        (a caller that batches its own writes calls this); one outcome per item (None: confirmed).

        A kept connection found dead before anything was confirmed is replaced once, as in
        :meth:`_with_channel`. A queue that cannot be declared closes the channel before anything
        is published: each item is then tried alone, so that it fails only its own callers."""
        for attempt in (1, 2):
            try:
                conn, reused = self._checkout(fresh=attempt == 2)
            except ChannelError as exc:
                return [exc] * len(items)
            batch = PublishBatch(items, self.confirm_timeout)
            try:
                batch.declare(conn.default_channel)
                batch.write()
            except Exception as exc:
                refused = isinstance(exc, AmqpChannelError)  # the broker refused; the connection is fine
                if refused:
                    _release(conn)
                else:
                    _discard(conn)
                if attempt == 1 and reused and not batch.confirmed_any and _stale(exc):
                    log.debug("a kept broker connection was stale; dropping the kept ones: %s", exc)
                    self.close()
                    continue
                if refused and not batch.written and len(items) > 1:
                    # a queue's declare was refused (which closes the channel): each alone
                    return [self.publish_batch([item])[0] for item in items]
                return batch.outcomes(exc)
            self._checkin(conn)
            return batch.outcomes(None)
        raise AssertionError("unreachable")

    def _with_channel(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(channel)`` on a leased connection. A kept connection may have died since its last
        use (a broker restart is noticed only when the socket is next used): such a failure is
        tried once more on a fresh connection before it counts. A connection that failed in any
        way (a passive declare of a missing queue closes its channel too) is not kept. The other
        kept connections date from before the same restart: they are dropped with it, and the
        second try takes a new one."""
        for attempt in (1, 2):
            conn, reused = self._checkout(fresh=attempt == 2)
            try:
                result = fn(conn.default_channel)
            except Exception as exc:
                _release(conn)
                if attempt == 2 or not reused or _missing_queue(exc):
                    raise
                log.debug("a kept broker connection was stale; dropping the kept ones: %s", exc)
                self.close()
                continue
            self._checkin(conn)
            return result
        raise AssertionError("unreachable")

    def declare(self, queue: Queue) -> None:
        """Create ``queue`` if it does not exist yet."""
        try:
            self._with_channel(lambda ch: queue.bind(ch).declare())
        except ChannelError:
            raise
        except Exception as exc:
            raise ChannelError(f"cannot declare {queue.name}: {exc}") from exc

    def message_count(self, queue: Queue) -> int:
        """Ready messages in ``queue`` (0 when it does not exist)."""

        def count(channel: Any) -> int:
            return int(queue.bind(channel).queue_declare(passive=True).message_count)

        try:
            return self._with_channel(count)
        except Exception as exc:
            # a passive declare of a missing queue fails with NotFound (and closes the channel)
            if _missing_queue(exc):
                return 0
            raise ChannelError(f"cannot read the length of {queue.name}: {exc}") from exc

    def purge(self, queue: Queue) -> int:
        try:
            return int(self._with_channel(lambda ch: queue.bind(ch).purge() or 0))
        except Exception as exc:
            if _missing_queue(exc):
                return 0
            raise ChannelError(f"cannot purge {queue.name}: {exc}") from exc

    def delete(self, queue: Queue) -> None:
        try:
            self._with_channel(lambda ch: queue.bind(ch).delete())
        except Exception as exc:
            if _missing_queue(exc):
                return
            raise ChannelError(f"cannot delete {queue.name}: {exc}") from exc

    # -- consuming ---------------------------------------------------------------------------
    def get(self, queue: Queue, timeout: float, poll: float = 0.02) -> dict[str, Any]:
        """Take (and ack) one message from ``queue``, waiting at most ``timeout`` seconds.

        The queue is declared first, so waiting may start before anything was published to it.
        """
        deadline = time.monotonic() + timeout
        self._with_channel(lambda ch: queue.bind(ch).declare())

        def fetch(channel: Any) -> Any:
            return queue.bind(channel).get(no_ack=True, accept=ACCEPT)

        while True:
            msg = self._with_channel(fetch)
            if msg is not None:
                return msg.decode()
            if time.monotonic() >= deadline:
                raise ChannelTimeout(f"no message on {queue.name} within {timeout:.0f}s")
            time.sleep(poll)

    def request(self, queue: Queue, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Request/reply: publish with a reply queue and a correlation id, wait for the answer."""
        reply = self.queue(f"reply_{uuid.uuid4().hex}", durable=False, expires=timeout + 60)
        correlation_id = uuid.uuid4().hex
        self._with_channel(lambda ch: reply.bind(ch).declare())  # before the request: no lost reply
        try:
            self.publish(queue, body, persistent=False, reply_to=reply.name, correlation_id=correlation_id)
            return self.get(reply, timeout)
        finally:
            try:
                self.delete(reply)
            except ChannelError:
                log.warning("could not delete reply queue %s", reply.name)

    def consume(
        self,
        queues: Iterable[Queue],
        on_message: Callable[[dict[str, Any], Delivery], None],
        stop: threading.Event,
        prefetch: int = 1,
        poll: float | Callable[[], float] = 1.0,
        on_idle: Callable[[], None] | None = None,
        declare: bool = True,
    ) -> bool:
        """Run ``on_message(body, delivery)`` for each message until ``stop`` is set.

        The callback acks or rejects. Bodies that are not JSON are rejected (dropped) unread.
        ``on_idle`` runs when no message came for ``poll`` seconds (a number, or a function
        asked before each wait), and before an outage is waited out.
        An outage is waited out, for as long as it takes (``outages.Outage``: back-off from 1 s
        doubling to 10 s, one log line when it starts and one when it ends): a lost or refused
        connection is tried again, and so is a delivery whose callback failed because a store is
        unreachable (it is handed back to the queue first). Unacked deliveries of a lost
        connection go back to their queue on the broker's side.

        A queue deleted under the consumer (RabbitMQ's ``basic.cancel``) is not a lost connection:
        consuming ends, nothing is declared again, and False is returned. With ``declare=False``
        the queues are never declared (the caller did that), so a queue that is missing when
        consuming starts, or restarts after a reconnect, also ends it with False. True: ``stop``.
        """
        queues = list(queues)

        def reject_undecodable(delivery: Delivery, exc: Exception) -> None:
            log.error("rejected a message that is not JSON on %s: %s", delivery.delivery_info, exc)
            delivery.reject()

        outage = Outage(f"the consumer of {', '.join(q.name for q in queues)}", logger=log)

        def settle(body: dict[str, Any], delivery: Delivery) -> None:
            try:
                on_message(body, delivery)
            except Exception as exc:
                if store_of(exc) in (None, RABBITMQ):
                    raise  # the broker's own failures end this connection (below)
                if not delivery.acknowledged:
                    delivery.requeue()
                outage.wait(exc, stop)
                return
            outage.ended()

        while not stop.is_set():
            try:
                conn = self.connect(retries=0)
            except ChannelError as exc:
                if on_idle is not None:
                    on_idle()  # no message comes while the broker is away
                outage.wait(exc, stop, RABBITMQ)
                continue
            try:
                channel = conn.channel()
                consumer = Consumer(
                    channel,
                    queues=queues,
                    callbacks=[settle],
                    accept=ACCEPT,
                    prefetch_count=prefetch,
                    on_decode_error=reject_undecodable,
                    auto_declare=declare,
                )
                with consumer:
                    outage.ended()
                    while not stop.is_set():
                        try:
                            conn.drain_events(timeout=poll() if callable(poll) else poll)
                        except TimeoutError:
                            if on_idle is not None:
                                on_idle()
            except ConsumerCancelled as exc:
                log.info("a consumed queue was deleted; stopped consuming: %s", exc)
                return False
            except (*conn.connection_errors, *conn.channel_errors, ChannelError, OperationalError) as exc:
                if not declare and _missing_queue(exc):
                    log.info("a consumed queue does not exist; not consuming: %s", exc)
                    return False
                if on_idle is not None:
                    on_idle()
                outage.wait(exc, stop, RABBITMQ)
            finally:
                conn.release()
        return True
