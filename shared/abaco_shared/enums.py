"""The platform's vocabulary: statuses, permission levels and roles (strings are verbatim Abaco)."""

from __future__ import annotations

import enum

__all__ = [
    "ActorStatus",
    "WorkerStatus",
    "ExecutionStatus",
    "ExecutionOutcome",
    "Permission",
    "Role",
    "WorkerCommandName",
    "Barrier",
    "PullPolicy",
    "ContentType",
    "DeadLetter",
]


class ActorStatus(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    READY = "READY"
    ERROR = "ERROR"
    SHUTTING_DOWN = "SHUTTING_DOWN"


class WorkerStatus(enum.StrEnum):
    REQUESTED = "REQUESTED"
    SPAWNER_SETUP = "SPAWNER SETUP"
    PULLING_IMAGE = "PULLING IMAGE"
    CREATING_CONTAINER = "CREATING CONTAINER"
    UPDATING_STORE = "UPDATING STORE"
    READY = "READY"
    BUSY = "BUSY"
    SHUTDOWN_REQUESTED = "SHUTDOWN_REQUESTED"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    ERROR = "ERROR"

    @classmethod
    def starting(cls) -> tuple[WorkerStatus, ...]:
        """Statuses of a requested worker whose process is not running yet."""
        return (cls.REQUESTED, cls.SPAWNER_SETUP, cls.PULLING_IMAGE, cls.CREATING_CONTAINER)

    @classmethod
    def pending(cls) -> tuple[WorkerStatus, ...]:
        """Statuses of a worker that exists or is on its way, and will take messages."""
        return (
            cls.REQUESTED,
            cls.SPAWNER_SETUP,
            cls.PULLING_IMAGE,
            cls.CREATING_CONTAINER,
            cls.UPDATING_STORE,
            cls.READY,
            cls.BUSY,
        )


class ExecutionStatus(enum.StrEnum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"

    @property
    def terminal(self) -> bool:
        return self in (ExecutionStatus.COMPLETE, ExecutionStatus.ERROR)


class ExecutionOutcome(enum.StrEnum):
    """What a terminal execution amounted to; ``status`` stays COMPLETE for compatibility."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"  # non-zero exit code
    TIMED_OUT = "TIMED_OUT"
    FORCE_QUIT = "FORCE_QUIT"
    NOT_STARTED = "NOT_STARTED"  # the container could not be created or started
    LOST = "LOST"  # its message never reached the mailbox (revived if the message turns up)


class Permission(enum.IntEnum):
    NONE = 0
    READ = 1
    EXECUTE = 2
    UPDATE = 3

    @classmethod
    def parse(cls, value: str) -> Permission:
        try:
            return cls[value.strip().upper()]
        except (KeyError, AttributeError):
            raise ValueError(f"invalid permission level {value!r}; use NONE, READ, EXECUTE or UPDATE") from None


class Role(enum.StrEnum):
    ADMIN = "admin"
    PRIVILEGED = "privileged"
    USER = "user"
    LIMITED = "limited"


class WorkerCommandName(enum.StrEnum):
    """Commands on a worker's channel (reference 3.1)."""

    STATUS = "status"
    FORCE_QUIT = "force_quit"
    STOP = "stop"  # the actor is going away: force-quit the running execution
    STOP_NO_DELETE = "stop-no-delete"  # replaced or scaled down: finish the running execution


class Barrier(enum.StrEnum):
    """What the spawner tells a new worker on its start barrier."""

    READY = "READY"
    CANCELLED = "CANCELLED"


class PullPolicy(enum.StrEnum):
    IF_NOT_PRESENT = "if-not-present"
    ALWAYS = "always"
    NEVER = "never"  # local images only: air-gapped hosts


class DeadLetter(enum.StrEnum):
    """An execution whose message a worker gave up on (``Execution.dead_letter``; unset otherwise)."""

    HELD = "HELD"  # listed under /actors/{id}/dead_letters, waiting to be re-sent or discarded
    RESENT = "RESENT"  # re-sent as the execution named by ``resent_as``
    DISCARDED = "DISCARDED"


class ContentType(enum.StrEnum):
    """``_abaco_Content_Type`` of a message."""

    STR = "str"
    JSON = "application/json"
    BINARY = "application/octet-stream"
