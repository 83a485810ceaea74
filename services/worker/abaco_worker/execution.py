"""One execution: SUBMITTED -> RUNNING -> COMPLETE, with exit code, times, CPU, I/O and logs.

A container that has started is never started again for the same execution:

- **Adoption.** A message whose execution already has a container on this host (found by its
  ``abaco.execution`` label; its worker died, or could not save its result) is not run again: the
  worker takes the execution over (``executions.adopt``, a conditional update that does not count
  an attempt), waits for the container if it still runs (for what is left of its run-time limit),
  reads its exit code and logs and records them like a run of its own. CPU and I/O are not
  measured then (recorded as null: the counters of its parent cgroup belong to the dead worker,
  mixed with its earlier executions), and results it sent after its worker died are lost; the
  status message says so. Then the container is removed and the message acked.
- **Saving.** The result of a container that has exited is saved with a capped back-off for up to
  ``worker.save_retry_for`` seconds while MongoDB is down, never run again; if the store is still
  away, the container is kept and the message handed back, to be adopted when it returns.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from abaco_shared import configs, executions, logs, workers
from abaco_shared.configs import ConfigCipher
from abaco_shared.containers import ContainerResult, ContainerSpec, DockerApi, parse_docker_time
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus
from abaco_shared.envvars import MAX_VALUE
from abaco_shared.errors import ConfigError, DockerError, ValidationError
from abaco_shared.events import EventPublisher
from abaco_shared.executions import Completion
from abaco_shared.messages import MailboxMessage
from abaco_shared.metrics import ExecutionTimings
from abaco_shared.models import Actor, Execution, utcnow
from abaco_shared.outages import Outage, store_of
from abaco_shared.retry import Disposition, RetryPolicy
from abaco_shared.runtime import pid_alive
from abaco_shared.waiters import CompletionSignals

from .access import AccessTokens
from .availability import Availability
from .binary import BinaryPayloads
from .cgroups import CgroupMeter
from .confinement import Confinement, Placement, RunLimits
from .environment import container_env
from .live_logs import LiveLogs
from .outcome import limits_of, outcome_of, status_message_of
from .results import ResultsReceiver
from .state import WorkerState

__all__ = ["ExecutionRunner"]

log = logging.getLogger(__name__)

RUN_TIME_LABEL = "abaco.max_run_time"  # the container's run-time limit, for its adopter and for health


class ExecutionRunner:
    """Runs one mailbox message in a fresh container and records what happened."""

    def __init__(
        self,
        placement: Placement,
        limits: RunLimits,
        confinement: Confinement,
        docker: DockerApi,
        meter: CgroupMeter,
        state: WorkerState,
        signals: CompletionSignals,
        policy: RetryPolicy,
        tokens: AccessTokens | None = None,
        config_cipher: ConfigCipher | None = None,
        live_logs: LiveLogs | None = None,
        events: EventPublisher | None = None,
        results: ResultsReceiver | None = None,
        binary: BinaryPayloads | None = None,
        save_retry_for: float = 300.0,
        availability: Availability | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.placement = placement
        self.limits = limits
        self.confinement = confinement
        self.docker = docker
        self.meter = meter
        self.state = state
        self.signals = signals
        self.policy = policy
        self.tokens = tokens  # None: this worker never asks for actor tokens
        self.config_cipher = config_cipher  # None: no config key, secret configs cannot be given
        self.results = results  # None: containers get no results socket
        self.events = events  # None: no events are published (actors with a link or webhook have them)
        # None: logs are saved only at exit
        self.live_logs = live_logs if live_logs is not None else LiveLogs(docker, limits.max_log_length, 0)
        self.binary = binary or BinaryPayloads(placement.worker_id)  # binary messages' payload files
        self.finished_container = ""
        self.save_retry_for = save_retry_for  # seconds a result is retried while the store is down
        self.availability = availability or Availability()  # the worker record's BUSY and READY
        self.clock = clock
        self.sleep = sleep

    @property
    def worker_id(self) -> str:
        return self.placement.worker_id

    def handle(self, actor: Actor, msg: MailboxMessage) -> Disposition:
        """Run one message: ACK when its execution is terminal, RETRY to run it again later."""
        ex_dbid = executions.key_for(actor.db_id, msg.execution_id)
        extra = {"actor_id": actor.db_id, "worker_id": self.worker_id, "execution_id": msg.execution_id}
        # the common case in one round trip: a message no worker has taken before
        claimed = executions.claim_fresh(ex_dbid, self.worker_id)
        if claimed is None:  # a redelivery or a duplicate: look before taking it
            taken = self._claim_again(actor, msg, ex_dbid, extra)
            if isinstance(taken, Disposition):
                return taken
            claimed = taken
        if self.policy.exhausted(claimed.attempts):
            log.error("giving up on an execution after %s attempts", claimed.attempts - 1, extra=extra)
            self._end(ex_dbid, f"Gave up after {claimed.attempts - 1} attempts to run it.")
            return Disposition.ACK
        worker_dbid = workers.key_for(actor.db_id, self.worker_id)
        self.availability.busy(worker_dbid)
        self.state.begin(msg.execution_id)
        try:
            return self._run(actor, msg, claimed, extra)
        finally:
            self.binary.release(msg)  # a binary message's payload file, once its container has ended
            self.state.end()
            self.availability.ready(worker_dbid)

    def spec_for(self, actor: Actor, msg: MailboxMessage, access_token: str = "") -> ContainerSpec:
        """The container for one message; raises ValidationError for a mount that is not allowed."""
        p = self.placement
        max_run_time = self.limits.run_time_for(actor)
        return self._limited_spec(
            actor,
            max_run_time,
            environment=container_env(actor, msg, p.worker_id, p.api_server, access_token, self._configs_of(actor)),
            labels={
                "abaco.worker": p.worker_id,
                "abaco.actor": actor.db_id,
                "abaco.execution": msg.execution_id,
                "abaco.install": p.install_id,
                RUN_TIME_LABEL: str(max_run_time),
            },
            network_mode=p.network,
            cgroup_parent=p.cgroup_parent,
            tmpfs=self.confinement.tmpfs() if not actor.privileged else {},
            binds=self.confinement.binds_for(actor),
            log_max_size=self.limits.log_max_size or None,
            privileged=actor.privileged,
        )

    def _limited_spec(self, actor: Actor, max_run_time: int, **more: Any) -> ContainerSpec:
        """The actor's container with its limits (what an execution records it ran under)."""
        lim, conf = self.limits, self.confinement
        return ContainerSpec(
            image=actor.image,
            environment=more.pop("environment", {}),
            mem_limit=actor.mem_limit or lim.mem_limit or None,
            nano_cpus=actor.max_cpus or lim.max_cpus or None,
            max_run_time=max_run_time,
            user=conf.user_for(actor),
            pids_limit=lim.pids_limit or None,
            read_only=conf.read_only_root and not actor.privileged,
            **more,
        )

    def _claim_again(self, actor: Actor, msg: MailboxMessage, ex_dbid: str, extra: dict) -> Disposition | Execution:
        """A message whose execution a worker took before: leave it to a live worker that runs
        it, adopt the container a dead one left, or claim it (its attempt counted)."""
        current = executions.current(ex_dbid)  # one read for both checks
        if self._running_elsewhere(actor.db_id, current):
            log.info("execution is running on another live worker (duplicate message): later", extra=extra)
            return Disposition.RETRY
        adopted = self._adopt_if_left(actor, msg, ex_dbid, extra, current)
        if adopted is not None:
            return adopted
        claimed = executions.claim(ex_dbid, self.worker_id)
        if claimed is None:
            log.info("execution already terminal or unknown: acking its message", extra=extra)
            return Disposition.ACK
        return claimed

    def _run(self, actor: Actor, msg: MailboxMessage, ex: Execution, extra: dict) -> Disposition:
        ex_dbid, attempts = ex.db_id, ex.attempts
        taken = time.time()  # the metrics' claim moment (queue wait | container start)
        try:
            spec = self.spec_for(actor, msg, self._access_token(actor))
            spec = self.binary.mount(spec, msg)  # a binary message's payload, as a read-only file
        except ValidationError as exc:  # a configuration problem: retrying will not help
            log.error("cannot run the actor's container: %s", exc, extra=extra)
            self._end(ex_dbid, str(exc))
            return Disposition.ACK
        before = self.meter.read()
        keep_logs = functools.partial(logs.save, ex, ttl=actor.log_ex)  # copies while it runs (live_logs)
        inbox = self.results.open(actor, ex, spec) if self.results else None  # mounts the results socket
        try:
            result = self.docker.run(
                spec,
                on_started=lambda cid: self._started(ex_dbid, cid, keep_logs, actor),
                max_log_length=self.limits.max_log_length,
            )
        except DockerError as exc:
            if self.policy.may_retry(attempts):
                log.warning("container did not run (attempt %s): %s", attempts, exc, extra=extra)
                return Disposition.RETRY
            log.error("container could not run after %s attempts: %s", attempts, exc, extra=extra)
            self._end(ex_dbid, str(exc))
            return Disposition.ACK
        finally:
            self.live_logs.unwatch()  # no live copy after this: the final one (_record) comes last
            results_note = self.results.close(inbox) if self.results else ""  # all stored before COMPLETE
        usage = self.meter.read() - before
        self._keep_result(actor, ex, spec, result, usage.cpu_ns, usage.io_bytes, results_note)
        self.binary.spent(msg)  # COMPLETE: a binary message's payload is deleted
        timings = ExecutionTimings.of(ex.message_received_time, taken, result.started_at, result.runtime_ms)
        self.signals.notify(ex_dbid, then=timings.writer(self.signals.prefix))  # same round trip
        if self.events is not None:  # EXECUTION_COMPLETE (actors with a link or webhook)
            outcome = outcome_of(result, self.state.was_forced())
            self.events.execution_complete(actor, msg.execution_id, result.exit_code, outcome)
        # quiet for the usual case (its record says it all); a container that failed is a line
        level = logging.DEBUG if result.exit_code == 0 else logging.INFO
        ended = {"exit_code": result.exit_code, "runtime_ms": result.runtime_ms}
        log.log(level, "execution complete", extra={**extra, **ended})
        return Disposition.ACK

    def _configs_of(self, actor: Actor) -> dict[str, Any]:
        """``{name: value}`` of the configs that name the actor (one indexed query), secrets
        decrypted; a ValidationError (the execution ends, saying why) when they cannot be given."""
        try:
            values = configs.injected_values(configs.for_actor_cached(actor.tenant, actor.actor_id), self.config_cipher)
        except ConfigError as exc:
            raise ValidationError(f"The actor's configs cannot be given to its container: {exc}.") from None
        size = max(len(str(values).encode()), len(json.dumps(values).encode()))
        if size > MAX_VALUE:
            raise ValidationError(
                f"The actor's configs render to {size} bytes (_actor_configs); at most {MAX_VALUE} bytes fit."
            )
        return values

    def _access_token(self, actor: Actor) -> str:
        """The execution's token: only actors with ``token`` on cost a round trip to clientg."""
        if not actor.token or self.tokens is None:
            return ""
        return self.tokens.for_execution(actor, self.limits.run_time_for(actor))

    def _running_elsewhere(self, actor_dbid: str, current: Execution | None) -> bool:
        """True when another worker that is still alive is running this execution (``current``:
        its status and worker as ``executions.current`` read them).

        A duplicate delivery must not run the execution a second time concurrently; a redelivery
        after its worker died must not either, but adopt its container (:meth:`_adopt_if_left`).
        """
        if current is None or current.status != ExecutionStatus.RUNNING.value:
            return False
        running_on = str(current.worker_id or "")
        return running_on not in ("", self.worker_id) and self._alive(actor_dbid, running_on)

    def _alive(self, actor_dbid: str, worker_id: str) -> bool:
        """Whether another worker of the actor lives: on this host its pid tells; a worker on
        another host is trusted until health removes its record."""
        if not worker_id or worker_id == self.worker_id:
            return False
        other = workers.get_for_actor(actor_dbid, worker_id)
        if other is None:
            return False
        if other.host_id == self.placement.host_id:
            return pid_alive(other.pid)
        return True

    # -- adoption: a container left by a worker that died (or could not save its result) ----------
    def _adopt_if_left(
        self, actor: Actor, msg: MailboxMessage, ex_dbid: str, extra: dict, current: Execution | None
    ) -> Disposition | None:
        """Adopt the execution's container if one is left on this host; None: there is none (or
        it never started, and is removed), so the message runs as usual."""
        if current is None or not current.worker_id or ExecutionStatus(current.status).terminal:
            return None  # never claimed (the hot path: no Docker call), ended or unknown: claim decides
        try:
            container = self._left_container(actor.db_id, msg.execution_id)
            if container is None:
                return None
            cid = str(container["Id"])
            owner = str((container.get("Labels") or {}).get("abaco.worker", ""))
            if self._alive(actor.db_id, owner) or self._alive(actor.db_id, current.worker_id):
                log.info("the execution's container belongs to a live worker: later", extra=extra)
                return Disposition.RETRY
            info = self.docker.inspect(cid)
        except DockerError as exc:  # a second container must not start while the first may be there
            log.warning("cannot look for the execution's container: later (%s)", exc, extra=extra)
            return Disposition.RETRY
        state = (info or {}).get("State") or {}
        if info is None or not parse_docker_time(state.get("StartedAt")):
            if info is not None:  # created, never started: it goes, and the message runs once
                self.docker.remove(cid)
            return None
        ex = executions.adopt(ex_dbid, current.worker_id, self.worker_id)
        if ex is None:
            log.info("the execution ended or was adopted meanwhile", extra=extra)
            return Disposition.ACK if executions.is_terminal(ex_dbid) else Disposition.RETRY
        log.info("adopting the container of a worker that is gone", extra={**extra, "from_worker": owner})
        worker_dbid = workers.key_for(actor.db_id, self.worker_id)
        self.availability.busy(worker_dbid)
        self.state.begin(msg.execution_id)
        try:
            return self._adopt(actor, msg, ex, cid, info or {}, owner or current.worker_id, extra)
        finally:
            self.binary.release(msg)
            self.state.end()
            self.availability.ready(worker_dbid)

    def _left_container(self, actor_dbid: str, execution_id: str) -> dict[str, Any] | None:
        """The execution's container on this host (a running one first, else the newest), if any."""
        found = [
            c
            for c in self.docker.list_labelled(f"abaco.execution={execution_id}")
            if (c.get("Labels") or {}).get("abaco.actor") == actor_dbid
            and (c.get("Labels") or {}).get("abaco.install") == self.placement.install_id
        ]
        found.sort(key=lambda c: (c.get("State") == "running", c.get("Created") or 0), reverse=True)
        return found[0] if found else None

    def _adopt(
        self, actor: Actor, msg: MailboxMessage, ex: Execution, cid: str, info: dict[str, Any], owner: str, extra: dict
    ) -> Disposition:
        """Wait for an adopted container (what is left of its run-time limit), then record its result."""
        labels = (info.get("Config") or {}).get("Labels") or {}
        try:
            max_run_time = int(labels.get(RUN_TIME_LABEL) or 0) or self.limits.run_time_for(actor)
        except ValueError:
            max_run_time = self.limits.run_time_for(actor)
        state = info.get("State") or {}
        timeout: float | None = None
        if ex.status == ExecutionStatus.SUBMITTED.value:  # its worker died before it said RUNNING
            executions.start(ex.db_id)
        if self.state.started(cid):  # a force-quit was asked for already
            self.docker.stop(cid, grace=self.limits.stop_grace)
        if state.get("Running"):
            started = parse_docker_time(state.get("StartedAt")) or utcnow()
            timeout = max(1.0, max_run_time - (utcnow() - started).total_seconds())
            self.live_logs.watch(cid, functools.partial(logs.save, ex, ttl=actor.log_ex))
        try:
            result = self.docker.wait(cid, timeout, self.limits.max_log_length)
        except DockerError as exc:  # its result is gone with it: the message runs again
            log.error("lost the adopted container: %s", exc, extra=extra)
            return Disposition.RETRY
        finally:
            self.live_logs.unwatch()
        note = (
            f"Adopted by worker {self.worker_id} after its worker {owner} was gone: cpu and io were "
            "not measured (null), and results sent after that are lost."
        )
        self._keep_result(actor, ex, self._limited_spec(actor, max_run_time), result, None, None, note)
        self.binary.spent(msg)
        self.signals.notify(ex.db_id)
        if self.events is not None:
            outcome = outcome_of(result, self.state.was_forced())
            self.events.execution_complete(actor, msg.execution_id, result.exit_code, outcome)
        log.info(
            "adopted execution complete",
            extra={**extra, "exit_code": result.exit_code, "runtime_ms": result.runtime_ms},
        )
        return Disposition.ACK

    # -- the result ----------------------------------------------------------------------------------
    def _keep_result(
        self,
        actor: Actor,
        ex: Execution,
        spec: ContainerSpec,
        result: ContainerResult,
        cpu: int | None,
        io: int | None,
        note: str = "",
    ) -> None:
        """Save an exited container's result, waiting out a store outage (at most
        ``save_retry_for`` s); then the container is the one :meth:`remove_finished` removes.
        If the store stays away the container is kept (for adoption) and the error raised."""
        extra = {"actor_id": actor.db_id, "worker_id": self.worker_id, "execution_id": ex.execution_id}
        outage = Outage("saving an execution's result", logger=log)
        deadline = self.clock() + self.save_retry_for
        while True:
            try:
                self._record(actor, ex, spec, result, cpu, io, note)
                break
            except Exception as exc:
                left = deadline - self.clock()
                if store_of(exc) is not None and left > 0:
                    self.sleep(min(outage.failed(exc), left))
                    continue
                if store_of(exc) is not None:
                    log.error(
                        "could not save a result for %gs: the container is kept for adoption",
                        self.save_retry_for,
                        extra={**extra, "container_id": result.container_id[:12]},
                    )
                else:
                    self.finished_container = result.container_id
                    self.remove_finished()
                raise
        outage.ended()
        self.finished_container = result.container_id

    def remove_finished(self) -> None:
        """Remove the last exited container (after its execution is recorded and acked)."""
        cid, self.finished_container = self.finished_container, ""
        if cid and not self.limits.leave_containers:
            self.docker.remove(cid)

    def _started(
        self, ex_dbid: str, cid: str, keep_logs: Callable[[str], None] | None = None, actor: Actor | None = None
    ) -> None:
        quit_now = self.state.started(cid)
        try:
            executions.start(ex_dbid)
        except Exception as exc:  # the container runs: its record catches up when it ends
            if store_of(exc) is None:
                raise
            log.warning(
                "could not mark the execution RUNNING (%s); it is recorded when its container ends",
                exc,
                extra={"execution_id": ex_dbid.rpartition("_")[2]},
            )
        if actor is not None and self.events is not None:  # EXECUTION_STARTED (actors with a link or webhook)
            self.events.execution_started(actor, ex_dbid.rpartition("_")[2])
        if keep_logs is not None:
            self.live_logs.watch(cid, keep_logs)
        if quit_now:
            self.docker.stop(cid, grace=self.limits.stop_grace)

    def force_quit(self, execution_id: str) -> None:
        """Stop the running container (if it is ``execution_id``, or any when empty)."""
        cid = self.state.request_force_quit(execution_id)
        if cid:
            self.docker.stop(cid, grace=self.limits.stop_grace)

    def _record(
        self,
        actor: Actor,
        ex: Execution,
        spec: ContainerSpec,
        result: ContainerResult,
        cpu: int | None,
        io: int | None,
        results_note: str = "",
    ) -> None:
        logs.save(ex, result.logs, actor.log_ex)
        done = Completion(
            outcome=outcome_of(result, self.state.was_forced()),
            exit_code=result.exit_code,
            started_at=result.started_at,
            finished_at=result.finished_at,
            runtime_ms=result.runtime_ms,
            cpu_ns=cpu,
            io_bytes=io,
            final_state=result.final_state,
            status_message=" ".join(filter(None, (status_message_of(result, spec), results_note))),
            limits=limits_of(spec),
        )
        if not executions.complete(ex.db_id, done):
            log.warning(
                "the execution had ended already: its result was not recorded", extra={"execution_id": ex.execution_id}
            )

    def _end(self, ex_dbid: str, reason: str) -> None:
        """Give up on a message: its execution ends NOT_STARTED, held as a dead letter."""
        executions.end(ex_dbid, ExecutionOutcome.NOT_STARTED, reason, dead_letter=True)
        self.signals.notify(ex_dbid)
