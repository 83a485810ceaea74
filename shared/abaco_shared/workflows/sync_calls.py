"""Synchronous calls (``?_abaco_synchronous=true``, reference 1.5): wait for an execution's answer.

The answer is the execution's first result datagram, raw, as soon as it is stored (it is then
consumed, as a GET of ``.../results`` would); or, when the execution ends without one, its logs.
A caller may lower the server's timeout for its own call with ``_abaco_sync_timeout=<seconds>``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .. import actors, executions, logs, results
from ..errors import ValidationError, WaitTimeout
from ..waiters import CompletionSignals, Signal

__all__ = ["SyncAnswer", "TIMEOUT_PARAM", "wait_for_answer", "sync_timeout_of"]

TIMEOUT_PARAM = "_abaco_sync_timeout"


@dataclass(frozen=True)
class SyncAnswer:
    """The raw body of a synchronous call: a result datagram, or the logs of the ended execution
    with how it ended (its outcome, e.g. FAILED, and its container's exit code, if it ran)."""

    body: bytes
    is_result: bool
    outcome: str | None = None
    exit_code: int | None = None


def sync_timeout_of(given: str | None, server_timeout: float) -> float:
    """The seconds a synchronous call waits: ``_abaco_sync_timeout`` when given (a number of
    seconds above 0, at most the server's ``http.sync_timeout``), else the server's timeout."""
    if given is None:
        return server_timeout
    try:
        seconds = float(given.strip())
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= server_timeout:  # also refuses nan and inf
        raise ValidationError(
            f"Invalid {TIMEOUT_PARAM}: {given!r}; expected a number of seconds above 0 and at most "
            f"{server_timeout:g} (the server's timeout for synchronous calls)."
        )
    return seconds


def wait_for_answer(ex: executions.ExecutionRef, signals: CompletionSignals, timeout: float) -> SyncAnswer:
    """Block until the execution stores its first result or ends, and return the answer.

    Raises WaitTimeout (504) after ``timeout`` seconds, naming the execution, which keeps running.
    The results store is read only when a signal says there is something to read (an execution
    that sends no result costs no query of it before its end).
    """
    deadline = time.monotonic() + timeout
    while True:
        woke = signals.wait_any(ex.db_id, deadline - time.monotonic(), lambda: executions.is_terminal(ex.db_id))
        if woke is None:
            _, actor_id = actors.split_key(ex.actor_dbid)
            raise WaitTimeout(
                f"Execution {ex.execution_id} did not finish within {timeout:g} s; it keeps running: "
                f"GET /actors/{actor_id}/executions/{ex.execution_id} for its status."
            )
        first = results.pop_next(ex.db_id)
        if first is not None:
            return SyncAnswer(first, is_result=True)
        if woke is Signal.DONE:  # every result is stored before the execution ends: there is none
            ended = executions.get_by_key(ex.db_id)
            outcome = ended.outcome if ended is not None else None
            exit_code = ended.exit_code if ended is not None else None
            return SyncAnswer(logs.text_of(ex.db_id).encode(), False, outcome, exit_code)
        # the first result was taken by another reader (GET .../results): wait for the end
