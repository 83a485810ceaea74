"""Sending messages to an actor and purging its mailbox (waiting for one: ``sync_calls``)."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import blobs, executions, idempotency
from ..auth import Principal
from ..blobs import Blob, Upload
from ..broker import Broker, Outgoing
from ..channels import MailboxChannel
from ..enums import ActorStatus, ExecutionOutcome
from ..envvars import check_name, check_value
from ..errors import AbacoError, ChannelError, Conflict
from ..groupcommit import GroupCommit
from ..idempotency import IdempotencyKey
from ..ids import new_id
from ..messages import MailboxMessage
from ..models import Actor
from .scaling import ensure_one_worker

__all__ = ["IncomingMessage", "submit_message", "expecting_message", "purge_mailbox", "message_env"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingMessage:
    """A parsed POST to ``/actors/{id}/messages``."""

    message: Any
    content_type: str
    params: dict[str, str] = field(default_factory=dict)  # query parameters: the container's env
    payload: Upload | Blob | None = None  # a binary message's bytes: still to store, or stored
    idempotency: IdempotencyKey | None = None  # a repeat with this key answers the first execution

    def __post_init__(self) -> None:
        for name, value in self.params.items():
            check_value(check_name(name, "query parameter"), value, "query parameter")


def message_env(actor: Actor, sender: Principal, incoming: IncomingMessage, execution_id: str, api: str) -> dict:
    """The per-message environment (reference 2, source 2): the sender's parameters, then the
    ``_abaco_*`` values the platform sets, which parameters cannot override."""
    return {
        **incoming.params,
        "_abaco_username": sender.user,
        "_abaco_api_server": api,
        "_abaco_jwt_header_name": "Authorization",
        "_abaco_execution_id": execution_id,
        "_abaco_Content_Type": incoming.content_type,
        "_abaco_actor_revision": str(actor.revision),
    }


def submit_message(
    actor: Actor, sender: Principal, incoming: IncomingMessage, broker: Broker, api_server: str
) -> executions.ExecutionRef:
    """Accept a message for an actor; returns its SUBMITTED execution.

    1. refuse it (409) when the actor is being deleted or is in ERROR;
    2. record the execution (SUBMITTED); a binary message's payload is streamed into the blob store
       first (a failed upload stores nothing) and the record keeps its blob id (``binary_ref``);
    3. publish the message to the actor's mailbox (with publisher confirms);
    4. request a worker if the actor has none (a cold start).
    Steps 2 and 3 go out in one batch with other requests' (``_accepts``): an insert of every
    record, then the publishes of those written, with one wait for their confirms.
    If step 3 fails, the execution is ended (ERROR, NOT_STARTED) and the ChannelError propagates:
    a message that was refused never runs. If step 4 fails the message stays queued and the error
    is only logged: health requests a worker for any actor with waiting messages.
    With an Idempotency-Key, the key is claimed before step 2 and a repeat answers the first
    execution instead (``idempotency``: race-free; released when step 3 fails; such a message is
    written alone, since its key may pass to another request between steps 2 and 3). A binary body is
    stored before its key is claimed, so that its bytes (their SHA-256) are part of what a repeat
    must match; a repeat's copy, or one whose key is refused, is deleted again.
    """
    if actor.status == ActorStatus.SHUTTING_DOWN.value:
        raise Conflict(f"Actor {actor.actor_id} is being deleted; it takes no more messages.")
    if actor.status == ActorStatus.ERROR.value:
        raise Conflict(f"Actor {actor.actor_id} is in ERROR and cannot run messages: {actor.status_message}")
    execution_id = new_id()
    admission = None
    blob = None
    if incoming.idempotency is not None:
        if isinstance(incoming.payload, blobs.Upload):
            blob = blobs.save(incoming.payload, actor.db_id, execution_id)
        try:
            digest = idempotency.fingerprint(
                incoming.content_type, incoming.message, incoming.params, blob.sha256 if blob else ""
            )
            admission = idempotency.admit(actor, sender, incoming.idempotency, digest, execution_id)
        except BaseException:
            _discard(blob)
            raise
        if admission.replay is not None:
            _discard(blob)
            return admission.replay
    if blob is None and incoming.payload is not None:
        blob = blobs.save(incoming.payload, actor.db_id, execution_id)
    doc = executions.new_record(
        actor,
        execution_id,
        sender.user,
        incoming.content_type,
        incoming.message,
        incoming.params,
        binary_ref=blob.blob_id if blob else None,
    )
    mail = MailboxMessage(
        execution_id=execution_id,
        content_type=incoming.content_type,
        message=incoming.message,
        env=message_env(actor, sender, incoming, execution_id, api_server),
        executor=sender.user,
        binary_ref=blob.blob_id if blob else "",
        binary_size=blob.size if blob else 0,
    )
    mailbox = MailboxChannel(broker, actor.db_id)
    ex = executions.receipt(doc)
    if admission is None:  # the record and the publish, in one batch with other requests'
        outcome = _accepts(broker).submit((doc, mailbox.outgoing(mail)))
        failure = outcome.error if isinstance(outcome, _Unqueued) else None
    else:  # between the two, a key's claim may have passed to another request
        executions.write_record(doc)
        if (taker := idempotency.superseded(admission, ex)) is not None:
            return taker
        failure = None
        try:
            mailbox.put(mail)
        except ChannelError as exc:
            failure = exc
    if failure is not None:
        executions.end(ex.db_id, ExecutionOutcome.NOT_STARTED, f"message not queued: {failure}")
        if admission is not None:
            idempotency.release(admission)
        raise failure
    try:
        ensure_one_worker(actor, broker)
    except AbacoError as exc:
        log.error("could not request a worker: %s", exc, extra={"actor_id": actor.db_id})
    return ex


# -- accepting messages together ----------------------------------------------------------------
# Requests that accept a message at the same moment share their writes (``groupcommit``): one
# insert of their execution records, then one run of publishes with one wait for the broker's
# confirms. A leader waits up to ACCEPT_LINGER for requests that are on their way
# (``expecting_message``), so that under load batches are larger and each costs less per message.
ACCEPT_LINGER = 0.002


@dataclass(frozen=True)
class _Unqueued:
    """An accepted message whose record was written but whose publish failed."""

    error: ChannelError


_Accept = tuple[dict[str, Any], Outgoing]
_accepting: weakref.WeakKeyDictionary[Broker, GroupCommit[_Accept, _Unqueued | None]] = weakref.WeakKeyDictionary()
_accepting_lock = threading.Lock()


def _accepts(broker: Broker) -> GroupCommit[_Accept, _Unqueued | None]:
    """The group commit of messages accepted through ``broker`` (one per broker)."""
    commit = _accepting.get(broker)
    if commit is None:
        with _accepting_lock:
            commit = _accepting.get(broker)
            if commit is None:
                held = weakref.ref(broker)  # the commit must not keep its broker alive

                def flush(items: Sequence[_Accept]) -> list[Exception | _Unqueued | None]:
                    owner = held()
                    if owner is None:  # unreachable while a caller holds the broker
                        return [ChannelError("the broker was closed")] * len(items)
                    return _accept_all(owner, items)

                commit = GroupCommit(flush, linger=ACCEPT_LINGER)
                _accepting[broker] = commit
    return commit


def _accept_all(broker: Broker, items: Sequence[_Accept]) -> list[Exception | _Unqueued | None]:
    """Insert the records, then publish the messages of those written: one outcome per item (an
    insert's error; _Unqueued for a record written whose message was not queued; None)."""
    out: list[Exception | _Unqueued | None] = list(executions.insert_records([doc for doc, _ in items]))
    written = [i for i, error in enumerate(out) if error is None]
    if not written:
        return out
    try:
        published = broker.publish_batch([items[i][1] for i in written])
    except Exception as exc:  # publish_batch reports each item's failure; this is a last resort
        published = [ChannelError(f"cannot publish: {exc}")] * len(written)
    for i, error in zip(written, published, strict=True):
        if error is not None:
            out[i] = _Unqueued(error)
    return out


@contextmanager
def expecting_message(broker: Broker) -> Iterator[None]:
    """This thread is about to accept a message through ``broker`` (a request that has yet to
    parse its body): a batch being formed waits for it, briefly (``ACCEPT_LINGER``)."""
    with _accepts(broker).expecting():
        yield


def _discard(blob: blobs.Blob | None) -> None:
    """Delete a payload stored for a message that will not run (a repeat, or a refused key)."""
    if blob is None:
        return
    try:
        blobs.delete(blob.blob_id)
    except Exception as exc:  # the actor's payloads all go with it; the request's answer matters more
        log.warning("could not delete an unused binary payload: %s", exc, extra={"blob_id": blob.blob_id})


def purge_mailbox(actor: Actor, broker: Broker) -> int:
    """Drop every queued message of an actor and end their executions (ERROR, NOT_STARTED).

    Returns how many messages were purged. A message already taken by a worker still runs.
    """
    purged = MailboxChannel(broker, actor.db_id).purge()
    executions.end_pending(actor.db_id, "The actor's mailbox was purged.")
    return purged
