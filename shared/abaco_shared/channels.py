"""Named channels (reference section 3.1) with verbs. Bodies are the dataclasses in messages.py.

| channel         | queue                        | ack policy / lifetime                                  |
|-----------------|------------------------------|--------------------------------------------------------|
| command         | command_channel_<queue>      | durable; acked once its worker is READY or failed      |
| actor mailbox   | actor_msg_<actor db_id>      | durable, persistent; a worker acks after recording     |
| worker          | worker_<worker_id>           | expires 1 h after last use                             |
| spawner-worker  | spawner_worker_<worker_id>   | one-shot start barrier; expires after 5 min            |
| results         | results_<db_id>_<exec_id>    | expires 20 min after last use                          |
| clients         | clients                      | request/reply with a reply queue and correlation id    |
| events          | events_channel_default       | durable; the events agent acks after delivering        |
"""

from __future__ import annotations

import threading

from .broker import Broker, Outgoing, Queue
from .enums import Barrier, WorkerCommandName
from .messages import (
    ClientReply,
    ClientRequest,
    EventMessage,
    MailboxMessage,
    SpawnCommand,
    SpawnerReady,
    WorkerCommand,
)

__all__ = [
    "CommandChannel",
    "MailboxChannel",
    "WorkerChannel",
    "SpawnerWorkerChannel",
    "ResultsChannel",
    "ClientsChannel",
    "EventsChannel",
]


class CommandChannel:
    """Commands for the spawners serving one host queue (``default``, ``special``...)."""

    def __init__(self, broker: Broker, queue_name: str = "default") -> None:
        self.broker = broker
        self.queue: Queue = broker.queue(f"command_channel_{queue_name}")

    def send_spawn(self, cmd: SpawnCommand) -> None:
        self.broker.publish(self.queue, cmd.to_dict())

    def length(self) -> int:
        return self.broker.message_count(self.queue)


class MailboxChannel:
    """An actor's mailbox: one message per execution, consumed by the actor's workers."""

    # the messages API opens a mailbox per request: its queue object is kept (kombu's costs more
    # to build than the rest of the channel); binding one to a channel copies it, so none changes
    _queues: dict[tuple[str, str], Queue] = {}
    _queues_lock = threading.Lock()
    MAX_KEPT = 4096

    def __init__(self, broker: Broker, actor_dbid: str) -> None:
        self.broker = broker
        key = (broker.prefix, actor_dbid)
        queue = self._queues.get(key)
        if queue is None:
            queue = broker.queue(f"actor_msg_{actor_dbid}")
            with self._queues_lock:
                if len(self._queues) >= self.MAX_KEPT:
                    self._queues.clear()
                self._queues[key] = queue
        self.queue: Queue = queue

    def put(self, msg: MailboxMessage) -> None:
        self.broker.publish(self.queue, msg.to_dict())

    def outgoing(self, msg: MailboxMessage) -> Outgoing:
        """``msg`` ready for ``Broker.publish_batch`` (for a caller that batches its own writes)."""
        return self.broker.outgoing(self.queue, msg.to_dict())

    def declare(self) -> None:
        self.broker.declare(self.queue)

    def length(self) -> int:
        return self.broker.message_count(self.queue)

    def purge(self) -> int:
        return self.broker.purge(self.queue)

    def delete(self) -> None:
        self.broker.delete(self.queue)


class WorkerChannel:
    """Control messages for one worker process."""

    def __init__(self, broker: Broker, worker_id: str) -> None:
        self.broker = broker
        self.queue: Queue = broker.queue(f"worker_{worker_id}", durable=False, expires=3600)

    def send(self, command: WorkerCommandName, execution_id: str = "") -> None:
        body = WorkerCommand(command.value, execution_id).to_dict()
        self.broker.publish(self.queue, body, persistent=False)

    def delete(self) -> None:
        self.broker.delete(self.queue)


class SpawnerWorkerChannel:
    """The start barrier: the spawner says READY once the worker's record is written."""

    def __init__(self, broker: Broker, worker_id: str) -> None:
        self.broker = broker
        self.queue: Queue = broker.queue(f"spawner_worker_{worker_id}", durable=False, expires=300)

    def send_ready(self) -> None:
        self.broker.publish(self.queue, SpawnerReady(Barrier.READY.value).to_dict(), persistent=False)

    def send_cancel(self) -> None:
        """The worker was stopped while it started: it should exit instead of serving."""
        self.broker.publish(self.queue, SpawnerReady(Barrier.CANCELLED.value).to_dict(), persistent=False)

    def wait_ready(self, timeout: float) -> SpawnerReady:
        try:
            return SpawnerReady.from_dict(self.broker.get(self.queue, timeout))
        finally:
            self.broker.delete(self.queue)


class ResultsChannel:
    """Results an execution sends from its container (filled in by the messages issue)."""

    def __init__(self, broker: Broker, actor_dbid: str, execution_id: str) -> None:
        self.broker = broker
        self.queue: Queue = broker.queue(f"results_{actor_dbid}_{execution_id}", expires=1200)


class ClientsChannel:
    """Requests to clientg for worker credentials; replies come back on a private queue."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.queue: Queue = broker.queue("clients")

    def request(self, req: ClientRequest, timeout: float = 60.0) -> ClientReply:
        return ClientReply.from_dict(self.broker.request(self.queue, req.to_dict(), timeout))

    def tell(self, req: ClientRequest) -> None:
        """A request nobody waits for (a revocation): persistent, so that clientg handles it
        whenever it is up, even after a broker restart."""
        self.broker.publish(self.queue, req.to_dict())

    def reply(self, reply_to: str, correlation_id: str, reply: ClientReply) -> None:
        target = Queue(reply_to, routing_key=reply_to, no_declare=True)
        self.broker.publish(target, reply.to_dict(), persistent=False, correlation_id=correlation_id)


class EventsChannel:
    """Actor and execution events (``events.py``), consumed by the events agent, which acks each
    one once its link message is queued and its webhook POST is settled (at-least-once)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.queue: Queue = broker.queue("events_channel_default")

    def publish(self, msg: EventMessage) -> None:
        self.broker.publish(self.queue, msg.to_dict())
