"""Bodies of every message on every channel: versioned dataclasses, JSON on the wire.

``from_dict`` checks the schema version, required fields and types, so a consumer never acts on a
body it does not understand (and never runs anything from one).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .enums import Barrier, WorkerCommandName
from .errors import ValidationError

__all__ = [
    "WireMessage",
    "SpawnCommand",
    "MailboxMessage",
    "WorkerCommand",
    "SpawnerReady",
    "ClientRequest",
    "ClientReply",
    "EventMessage",
    "WORKER_COMMANDS",
]

SCHEMA_VERSION = 1
WORKER_COMMANDS = tuple(c.value for c in WorkerCommandName)

T = TypeVar("T", bound="WireMessage")

_SIMPLE = {str: str, int: int, bool: bool, float: (int, float)}


@dataclass
class WireMessage:
    """Base for channel bodies: ``to_dict`` adds ``v``; ``from_dict`` validates it."""

    kind: ClassVar[str] = "message"
    # field names an earlier release used on the wire -> their names now (still accepted)
    renamed: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        # fields hold JSON values, never dataclasses: a shallow copy (asdict deep-copies them all)
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        body["v"] = SCHEMA_VERSION
        return body

    @classmethod
    def from_dict(cls: type[T], body: object) -> T:
        if not isinstance(body, dict):
            raise ValidationError(f"{cls.kind}: body must be a JSON object")
        if body.get("v") != SCHEMA_VERSION:
            raise ValidationError(f"{cls.kind}: unsupported schema version {body.get('v')!r}")
        body = {cls.renamed.get(k, k): v for k, v in body.items()}
        hints = _hints(cls)  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in body:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ValidationError(f"{cls.kind}: missing field {f.name!r}")
                continue
            value = body[f.name]
            expected: Any = _SIMPLE.get(hints[f.name])
            if expected is not None and not isinstance(value, expected):
                raise ValidationError(f"{cls.kind}: field {f.name!r} has the wrong type")
            kwargs[f.name] = value
        return cls(**kwargs)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A message class's field types (resolved once: ``get_type_hints`` is slow)."""
    return typing.get_type_hints(cls)


@dataclass
class SpawnCommand(WireMessage):
    """Command channel: start one worker for an actor (``actor_dbid`` is the actor's key)."""

    kind: ClassVar[str] = "spawn command"
    renamed: ClassVar[dict[str, str]] = {"actor_id": "actor_dbid"}
    actor_dbid: str
    worker_id: str
    image: str
    revision: int
    tenant: str
    stop_existing: bool = False


@dataclass
class MailboxMessage(WireMessage):
    """Actor mailbox: one message to run. ``env`` holds query parameters and ``_abaco_*`` values.
    A binary message carries its payload's blob id (``abaco_shared.blobs``) and size, never the
    bytes; other messages leave them empty (and bodies of earlier releases have neither)."""

    kind: ClassVar[str] = "mailbox message"
    execution_id: str
    content_type: str
    message: Any = None
    env: dict[str, str] = field(default_factory=dict)
    executor: str = ""
    binary_ref: str = ""
    binary_size: int = 0


@dataclass
class WorkerCommand(WireMessage):
    """Worker channel: ``status``, ``force_quit``, ``stop`` or ``stop-no-delete``."""

    kind: ClassVar[str] = "worker command"
    command: str
    execution_id: str = ""

    def __post_init__(self) -> None:
        if self.command not in WORKER_COMMANDS:
            raise ValidationError(f"worker command: unknown command {self.command!r}")


@dataclass
class SpawnerReady(WireMessage):
    """Spawner-worker channel: the one-shot start barrier (``READY``, or ``CANCELLED``)."""

    kind: ClassVar[str] = "spawner ready"
    status: str = Barrier.READY.value

    def __post_init__(self) -> None:
        if self.status not in {b.value for b in Barrier}:
            raise ValidationError(f"spawner ready: unknown status {self.status!r}")


@dataclass
class ClientRequest(WireMessage):
    """Clients channel: ask clientg to create (``new``) or revoke (``delete``) a worker's
    credential, or to mint an access token for the worker's next execution (``token``, with the
    credential's ``client_id`` and ``secret``; ``ttl`` is the lifetime wanted, 0 for clientg's cap)."""

    kind: ClassVar[str] = "client request"
    renamed: ClassVar[dict[str, str]] = {"actor_id": "actor_dbid"}
    command: str
    tenant: str
    actor_dbid: str
    worker_id: str
    client_id: str = ""
    secret: str = field(default="", repr=False)
    ttl: int = 0


@dataclass
class ClientReply(WireMessage):
    """clientg's answer: ``ok`` with the new credential (``new``) or a token (``token``), else ``error``."""

    kind: ClassVar[str] = "client reply"
    status: str
    client_id: str = ""
    message: str = ""
    secret: str = field(default="", repr=False)
    token: str = field(default="", repr=False)


@dataclass
class EventMessage(WireMessage):
    """Events channel: one actor or execution event (``events.build_event``), for the events agent."""

    kind: ClassVar[str] = "event"
    event: dict[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.event, dict):
            raise ValidationError("event: field 'event' must be an object")
        for name in ("tenant_id", "event_type", "actor_id", "actor_dbid", "_abaco_link", "_abaco_webhook"):
            if not isinstance(self.event.get(name), str):
                raise ValidationError(f"event: field {name!r} is missing or not a string")
