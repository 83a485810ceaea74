"""Acting on executions from the API: force-quit, and the original's legacy manual add."""

from __future__ import annotations

from typing import Any

from .. import executions
from ..auth import Principal
from ..broker import Broker
from ..channels import WorkerChannel
from ..enums import ExecutionStatus, WorkerCommandName
from ..errors import ValidationError
from ..ids import new_id
from ..models import Actor, Execution

__all__ = ["force_quit", "add_manual_execution"]


def force_quit(ex: Execution, broker: Broker) -> str:
    """Ask the worker running ``ex`` to stop its container; returns the answer's message.

    Only a RUNNING execution can be force-quit (400 otherwise, as the original). The worker stops
    the container (SIGTERM, then SIGKILL after its grace period) and records FORCE_QUIT.
    """
    if ex.status != ExecutionStatus.RUNNING.value or not ex.worker_id:
        raise ValidationError(
            f"Cannot force quit execution {ex.execution_id}: it is {ex.status}, and only a RUNNING one can be."
        )
    WorkerChannel(broker, ex.worker_id).send(WorkerCommandName.FORCE_QUIT, ex.execution_id)
    return f"Issued force quit command for execution {ex.execution_id}."


def add_manual_execution(who: Principal, actor: Actor, body: dict[str, Any]) -> Execution:
    """The legacy manual add: integer ``runtime``, ``cpu`` and ``io`` (each required, >= 0)."""
    usage = {}
    for name in ("runtime", "cpu", "io"):
        value = body.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
            raise ValidationError(f"Invalid {name}: a non-negative integer is required.")
        usage[name] = value
    return executions.record_manual(actor, new_id(), who.user, **usage)
