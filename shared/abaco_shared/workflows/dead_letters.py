"""Acting on an actor's dead letters from the API: re-send one as a new execution, or discard it."""

from __future__ import annotations

import logging

from pymongo.errors import PyMongoError

from .. import blobs, dead_letters
from ..auth import Principal
from ..blobs import Blob
from ..broker import Broker
from ..enums import ContentType
from ..errors import Conflict, NotFound
from ..models import Actor, Execution
from .mailbox import IncomingMessage, submit_message

__all__ = ["held_letter", "resend", "discard"]

log = logging.getLogger(__name__)


def held_letter(actor: Actor, execution_id: str) -> Execution:
    """The actor's held dead letter ``execution_id``, or a 404 (unknown, re-sent or discarded)."""
    letter = dead_letters.get_held(actor.db_id, execution_id)
    if letter is None:
        raise NotFound(f"No dead letter found with identifier: {execution_id}.")
    return letter


def _incoming_of(letter: Execution) -> IncomingMessage:
    """The letter's message as it was sent; a binary one with its stored payload (``blobs``: kept
    while its execution has not completed, and carried by the re-sent execution)."""
    params = dict(letter.params or {})
    if letter.content_type != ContentType.BINARY.value:
        return IncomingMessage(letter.message, letter.content_type, params)
    size = letter.message.get("binary_size") if isinstance(letter.message, dict) else None
    if not letter.binary_ref or not isinstance(size, int):
        raise Conflict(f"Dead letter {letter.execution_id} is a binary message whose payload was not kept.")
    return IncomingMessage(letter.message, letter.content_type, params, payload=Blob(letter.binary_ref, size))


def resend(actor: Actor, sender: Principal, execution_id: str, broker: Broker, api_server: str) -> Execution:
    """Send a held dead letter again, by ``sender``, as a new execution with the same message,
    content type and parameters; returns the letter, which names that execution in ``resent_as``
    and has left the list. A refused send (the actor is in ERROR, the broker is down) leaves the
    letter held."""
    letter = held_letter(actor, execution_id)
    incoming = _incoming_of(letter)
    if dead_letters.take(letter.db_id) is None:
        raise NotFound(f"No dead letter found with identifier: {execution_id}.")  # taken meanwhile
    try:
        new = submit_message(actor, sender, incoming, broker, api_server)
    except BaseException:
        dead_letters.release(letter.db_id)
        raise
    log.info(
        "dead letter re-sent",
        extra={"actor_id": actor.db_id, "execution_id": execution_id, "resent_as": new.execution_id},
    )
    return dead_letters.mark_resent(letter.db_id, new.execution_id) or letter


def discard(actor: Actor, execution_id: str) -> None:
    """Discard a held dead letter: its execution record stays, marked DISCARDED; a binary
    message's payload is deleted (a failure is only logged: it then goes with its actor)."""
    letter = held_letter(actor, execution_id)
    if not dead_letters.discard(letter.db_id):
        raise NotFound(f"No dead letter found with identifier: {execution_id}.")
    if letter.binary_ref:
        try:
            blobs.delete(letter.binary_ref)
        except PyMongoError as exc:
            log.warning("could not delete a discarded payload: %s", exc, extra={"execution_id": execution_id})
