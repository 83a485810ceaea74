"""How a container ended, in the words an execution keeps: its outcome, status message and limits."""

from __future__ import annotations

from abaco_shared.containers import ContainerResult, ContainerSpec
from abaco_shared.enums import ExecutionOutcome

__all__ = ["outcome_of", "status_message_of", "limits_of"]


def status_message_of(result: ContainerResult, spec: ContainerSpec) -> str:
    """What the engine says about how the container ended, in words (OOM kills above all)."""
    if result.final_state.get("OOMKilled"):
        return f"OOMKilled: the container exceeded its memory limit ({spec.mem_limit or 'host memory'})."
    if result.timed_out:
        return f"Stopped after its maximum run time of {spec.max_run_time} s."
    return ""


def limits_of(spec: ContainerSpec) -> dict[str, object]:
    """The limits a container ran under, kept on its execution."""
    return {
        "memory": spec.mem_limit or None,
        "cpus": spec.nano_cpus / 1e9 if spec.nano_cpus else None,
        "pids": spec.pids_limit,
        "run_time": spec.max_run_time,
        "user": spec.user,
        "read_only_root": spec.read_only,
    }


def outcome_of(result: ContainerResult, forced: bool) -> ExecutionOutcome:
    if result.timed_out:
        return ExecutionOutcome.TIMED_OUT
    if forced:
        return ExecutionOutcome.FORCE_QUIT
    if result.exit_code != 0:
        return ExecutionOutcome.FAILED
    return ExecutionOutcome.SUCCESS
