"""Link delivery: an event becomes a message to the linked actor, as if its source's owner sent it.

The message is the event dict (content type ``application/json``, so the linked actor's ``MSG`` is
its Python repr), sent by ``Abaco Event`` (the execution's ``executor`` and ``_abaco_username``).
The link is checked again at delivery, as at POST/PUT (``check_link``): the source's owner must
still have EXECUTE on the linked actor, and the link may not close a cycle (two PUTs racing could
have made one), so events never loop. Chains (A -> B -> C) propagate, as in the original: B's
execution publishes its own events. The source's webhook URL, which may carry a nonce, reaches a
linked actor of another owner as ``""``.
"""

from __future__ import annotations

from typing import Any

from abaco_shared import actors
from abaco_shared.auth import Principal
from abaco_shared.broker import Broker
from abaco_shared.enums import ContentType, Permission
from abaco_shared.errors import ChannelError, Conflict, NotFound, PermissionDenied, ValidationError
from abaco_shared.events import EVENT_EXECUTOR
from abaco_shared.lookup import get_actor
from abaco_shared.workflows.mailbox import IncomingMessage, submit_message
from abaco_shared.workflows.registration import check_link

from .delivery import Attempt, Verdict

__all__ = ["LinkSender", "link_target_id"]


def link_target_id(event: dict[str, Any]) -> str:
    """The linked actor's id (or alias) in the event's tenant, from ``_abaco_link`` (a key)."""
    link, tenant = str(event["_abaco_link"]), str(event["tenant_id"])
    return link[len(tenant) + 1 :] if link.startswith(f"{tenant}_") else link


class LinkSender:
    """Queues an event as a message to the actor its source links to."""

    def __init__(self, broker: Broker, api_server: str) -> None:
        self.broker = broker
        self.api_server = api_server

    def send(self, event: dict[str, Any]) -> Attempt:
        source = actors.get(str(event["actor_dbid"]))
        if source is None or source.tenant != event["tenant_id"]:
            return Attempt(Verdict.GIVE_UP, "the actor that sent the event is gone")
        owner = Principal(user=source.owner, tenant=source.tenant)
        target_id = link_target_id(event)
        try:
            check_link(owner, source, target_id)
            target = get_actor(owner, target_id, Permission.EXECUTE)
        except (NotFound, PermissionDenied, ValidationError) as exc:
            return Attempt(Verdict.GIVE_UP, f"link to {target_id} refused: {exc}")
        message = dict(event)
        if target.owner != source.owner:
            message["_abaco_webhook"] = ""
        sender = Principal(user=EVENT_EXECUTOR, tenant=source.tenant)
        try:
            ex = submit_message(
                target, sender, IncomingMessage(message, ContentType.JSON.value), self.broker, self.api_server
            )
        except Conflict as exc:  # the linked actor is in ERROR or being deleted
            return Attempt(Verdict.GIVE_UP, str(exc))
        except ChannelError as exc:
            return Attempt(Verdict.RETRY, str(exc))
        return Attempt(Verdict.DELIVERED, f"execution {ex.execution_id} of actor {target.actor_id}")
