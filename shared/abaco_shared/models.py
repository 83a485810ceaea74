"""MongoDB records (mongoengine documents). Plain data with validation; behaviour lives elsewhere.

Keys follow the original: an actor's ``db_id`` is ``<tenant>_<actor_id>``; executions and workers
are ``<actor db_id>_<id>``. Times are naive UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson.dbref import DBRef
from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    DynamicField,
    IntField,
    ListField,
    LongField,
    StringField,
)

from .enums import ActorStatus, DeadLetter, ExecutionStatus, WorkerStatus

__all__ = [
    "Actor",
    "Worker",
    "Execution",
    "Log",
    "PermissionRecord",
    "Alias",
    "Nonce",
    "ActorConfig",
    "utcnow",
    "plain",
]


def utcnow() -> dt.datetime:
    """Naive UTC now, truncated to milliseconds (what MongoDB stores)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def plain(value: Any) -> Any:
    """A user's stored value as it was sent. pymongo reads back any sub-document with a string
    ``$ref`` and an ``$id`` as a DBRef (JSON Schemas have both keys): it becomes the dict again
    (``$ref``, ``$id``, ``$db``, then the other keys). What holds none is returned as it is."""
    if isinstance(value, DBRef):
        return {k: plain(v) for k, v in value.as_doc().items()}
    if isinstance(value, dict):
        changed = None
        for k, v in value.items():
            p = plain(v)
            if p is not v:
                changed = changed if changed is not None else dict(value)
                changed[k] = p
        return value if changed is None else changed
    if isinstance(value, list):
        items = [plain(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


class _UserData:
    """A field holding a user's data: never a reference for mongoengine to follow (its
    dereferencing builds a document from any dict with a ``_cls`` key), and read back as it was
    sent (``plain``). mongoengine sets a field's dereferencing on every read: it stays off."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_auto_dereferencing(False)

    def set_auto_dereferencing(self, value: bool) -> None:
        super().set_auto_dereferencing(False)  # type: ignore[misc]

    def to_python(self, value: Any) -> Any:
        return plain(value)


class JsonField(_UserData, DynamicField):
    """A user's JSON value (a message, an actor's state)."""


class PlainDictField(_UserData, DictField):
    """A user's dict of strings (an environment, query parameters)."""


def _choices(enum_cls: type) -> list[str]:
    return [m.value for m in enum_cls]  # type: ignore[attr-defined]


class Actor(Document):
    meta = {
        "collection": "actors",
        "indexes": [{"fields": ("tenant", "actor_id"), "unique": True}, ("tenant", "owner"), "cron_next_time"],
    }

    db_id = StringField(primary_key=True)
    actor_id = StringField(required=True)
    tenant = StringField(required=True)
    owner = StringField(required=True)
    image = StringField(required=True)
    name = StringField(null=True)
    description = StringField(default="")
    stateless = BooleanField(default=True)
    type = StringField(default="none")
    default_environment = PlainDictField(default=dict)
    privileged = BooleanField(default=False)
    max_workers = IntField(null=True)
    min_workers = IntField(null=True)
    mem_limit = StringField(null=True)
    max_cpus = LongField(null=True)
    use_container_uid = BooleanField(default=False)
    queue = StringField(default="default")
    token = BooleanField(default=False)
    link = StringField(default="")
    webhook = StringField(default="")
    hints = ListField(StringField(), default=list)
    log_ex = IntField(null=True)
    cron_schedule = StringField(null=True)
    cron_on = BooleanField(default=False)
    cron_next_ex = StringField(null=True)  # the next slot in the original's "Y-M-D H" form
    cron_start = DateTimeField(null=True)  # the schedule's first slot: every slot counts from it
    cron_next_time = DateTimeField(null=True)  # the next slot, exactly (see workflows.cron)
    cron_missed = IntField(default=0)  # slots that did not run while cron_on (see workflows.cron)
    run_as_executor = BooleanField(default=False)
    max_run_time = IntField(null=True)
    revision = IntField(default=1)
    status = StringField(default=ActorStatus.SUBMITTED.value, choices=_choices(ActorStatus))
    status_message = StringField(default="")
    state = JsonField(default=dict, null=True)  # any JSON value, null included
    mounts = ListField(DictField(), default=list)
    create_time = DateTimeField(default=utcnow)
    last_update_time = DateTimeField(default=utcnow)
    worker_claim = StringField(default="")  # see lifecycle.ensure_one_worker


class Worker(Document):
    # not strict: a record with a field a newer release added still loads in older processes
    # (workers outlive spawner and API restarts)
    meta = {"collection": "workers", "indexes": ["actor_dbid", "host_id", "tenant"], "strict": False}

    db_id = StringField(primary_key=True)
    worker_id = StringField(required=True)
    actor_dbid = StringField(required=True)
    tenant = StringField(required=True)
    status = StringField(default=WorkerStatus.REQUESTED.value, choices=_choices(WorkerStatus))
    status_message = StringField(default="")
    ch_name = StringField(default="")
    image = StringField(default="")
    revision = IntField(default=1)
    location = StringField(default="")
    host_id = StringField(null=True)
    host_ip = StringField(null=True)
    pid = IntField(null=True)
    cid = StringField(default="")
    # the spawner driving its start ("<host_id>:<pid>:<nonce>"), "" when none is
    spawner = StringField(default="")
    create_time = DateTimeField(default=utcnow)
    last_execution_time = DateTimeField(null=True)
    last_health_check_time = DateTimeField(null=True)


class Execution(Document):
    meta = {
        "collection": "executions",
        "indexes": [
            ("actor_dbid", "-message_received_time"),
            "tenant",
            "status",
            {  # the few dead letters of an actor, without scanning its executions
                "fields": ("actor_dbid", "dead_letter", "-message_received_time"),
                "partialFilterExpression": {"dead_letter": {"$exists": True}},
            },
        ],
    }

    db_id = StringField(primary_key=True)
    execution_id = StringField(required=True)
    actor_dbid = StringField(required=True)
    tenant = StringField(required=True)
    executor = StringField(default="")
    worker_id = StringField(default="")
    status = StringField(default=ExecutionStatus.SUBMITTED.value, choices=_choices(ExecutionStatus))
    outcome = StringField(null=True)
    status_message = StringField(default="")
    message_received_time = DateTimeField(default=utcnow)
    start_time = DateTimeField(null=True)
    finish_time = DateTimeField(null=True)
    runtime = LongField(default=0)  # milliseconds
    cpu = LongField(default=0, null=True)  # nanoseconds of CPU time, from the cgroup (null: not measured)
    io = LongField(default=0, null=True)  # bytes of block I/O, from the cgroup (null: not measured)
    exit_code = IntField(null=True)
    final_state = DictField(default=dict)
    content_type = StringField(default="str")
    message = JsonField(null=True)  # the input message; for binary {"binary_size": N}
    binary_ref = StringField()  # a binary message's payload in the blob store (blobs.py); never shown
    params = PlainDictField(default=dict)  # query parameters sent with the message
    attempts = IntField(default=0)
    limits = DictField(default=dict)  # the limits its container ran under
    dead_letter = StringField(choices=_choices(DeadLetter))  # unset unless a worker gave up on it
    resent_as = StringField()  # the execution id a dead letter was re-sent as


class Log(Document):
    # exp: when the logs may go (the actor's log_ex); MongoDB's TTL monitor removes them within
    # a minute after. Records without exp are kept until their actor is deleted.
    meta = {"collection": "logs", "indexes": ["actor_dbid", {"fields": ["exp"], "expireAfterSeconds": 0}]}

    db_id = StringField(primary_key=True)  # the execution's db_id
    actor_dbid = StringField(required=True)
    tenant = StringField(required=True)
    execution_id = StringField(required=True)
    logs = StringField(default="")
    exp = DateTimeField(null=True)


class PermissionRecord(Document):
    """One user's level on one object (an actor db_id, later aliases and configs too)."""

    meta = {
        "collection": "permissions",
        "indexes": [{"fields": ("tenant", "object_id", "user"), "unique": True}],
    }

    tenant = StringField(required=True)
    object_id = StringField(required=True)
    user = StringField(required=True)
    level = StringField(required=True)


class Alias(Document):
    """A tenant-wide name for an actor; the key ``<tenant>_<alias>`` makes it unique per tenant."""

    meta = {"collection": "aliases", "indexes": [("tenant", "actor_id"), ("tenant", "-create_time")]}

    db_id = StringField(primary_key=True)
    alias = StringField(required=True)
    actor_id = StringField(required=True)  # the actor's id (not its key)
    tenant = StringField(required=True)
    owner = StringField(required=True)
    create_time = DateTimeField(default=utcnow)


class Nonce(Document):
    """A credential for one actor or alias (its key ``object_key``), used as ``?x-nonce=<id>``."""

    meta = {"collection": "nonces", "indexes": [("tenant", "object_key", "-create_time")]}

    db_id = StringField(primary_key=True)  # the nonce id, "<tenant>_<hashid>"
    tenant = StringField(required=True)
    object_key = StringField(required=True)  # the actor's key or the alias's key
    kind = StringField(required=True, choices=["actor", "alias"])
    name = StringField(required=True)  # the actor id or the alias
    owner = StringField(required=True)
    roles = ListField(StringField(), default=list)  # the creator's roles at creation
    level = StringField(required=True)
    max_uses = IntField(default=-1)  # -1: unlimited
    remaining_uses = IntField(default=-1)
    current_uses = IntField(default=0)
    description = StringField(default="")
    create_time = DateTimeField(default=utcnow)
    last_use_time = DateTimeField(null=True)


class ActorConfig(Document):
    """A named JSON value for the actors it names (see ``configs``); key ``<tenant>_<name>``."""

    meta = {
        "collection": "actor_configs",
        "indexes": [("tenant", "actor_ids"), ("tenant", "items"), ("tenant", "-create_time")],
    }

    db_id = StringField(primary_key=True)
    tenant = StringField(required=True)
    name = StringField(required=True)
    owner = StringField(required=True)
    value = StringField(required=True)  # JSON text; Fernet ciphertext of it when is_secret
    is_secret = BooleanField(required=True)
    items = ListField(StringField(), default=list)  # the actor ids and aliases it names, as given
    actor_ids = ListField(StringField(), default=list)  # what they resolved to when written
    create_time = DateTimeField(default=utcnow)
    last_update_time = DateTimeField(default=utcnow)
