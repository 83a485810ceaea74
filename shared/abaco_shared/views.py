"""How records are shown over HTTP (field names as the original's clients expect)."""

from __future__ import annotations

import json
from typing import Any

from .actors import split_key
from .enums import ContentType
from .executions import ExecutionRef, Totals
from .http import display_time
from .models import Actor, ActorConfig, Alias, Execution, Log, Nonce, Worker

__all__ = [
    "actor_view",
    "worker_view",
    "execution_view",
    "execution_summary_item",
    "executions_summary",
    "logs_view",
    "log_view",
    "message_accepted_view",
    "mailbox_view",
    "pending_message_view",
    "dead_letter_view",
    "alias_view",
    "nonce_view",
    "config_view",
    "links",
]


def links(api_server: str, owner: str, **paths: str) -> dict[str, str]:
    out = {name: f"{api_server}/actors/v2/{path}" for name, path in paths.items()}
    out["owner"] = f"{api_server}/profiles/v2/{owner}"
    return out


def actor_view(actor: Actor, api_server: str) -> dict[str, Any]:
    return {
        "id": actor.actor_id,
        "name": actor.name,
        "description": actor.description,
        "owner": actor.owner,
        "image": actor.image,
        "revision": actor.revision,
        "status": actor.status,
        "status_message": actor.status_message,
        "stateless": actor.stateless,
        "type": actor.type,
        "default_environment": actor.default_environment,
        "privileged": actor.privileged,
        "max_workers": actor.max_workers,
        "min_workers": actor.min_workers,
        "mem_limit": actor.mem_limit,
        "max_cpus": actor.max_cpus,
        "use_container_uid": actor.use_container_uid,
        "queue": actor.queue,
        "token": actor.token,
        "link": actor.link,
        "webhook": actor.webhook,
        "hints": actor.hints,
        "log_ex": actor.log_ex,
        "cron_schedule": actor.cron_schedule,
        "cron_on": actor.cron_on,
        "cron_next_ex": actor.cron_next_ex,
        "cron_next_ex_time": display_time(actor.cron_next_time),
        "cron_missed": actor.cron_missed,
        "run_as_executor": actor.run_as_executor,
        "max_run_time": actor.max_run_time,
        "state": actor.state,
        "mounts": actor.mounts,
        # derived from TACC's TAS in the original; this platform has no TAS, so they are null
        "uid": None,
        "gid": None,
        "tasdir": None,
        "create_time": display_time(actor.create_time),
        "last_update_time": display_time(actor.last_update_time),
        "_links": links(api_server, actor.owner, self=actor.actor_id, executions=f"{actor.actor_id}/executions"),
    }


def worker_view(worker: Worker) -> dict[str, Any]:
    return {
        "id": worker.worker_id,
        "tenant": worker.tenant,
        "actor_id": split_key(worker.actor_dbid)[1],
        "status": worker.status,
        "status_message": worker.status_message,
        "ch_name": worker.ch_name,
        "image": worker.image,
        "revision": worker.revision,
        "location": worker.location,
        "cid": worker.cid,
        "pid": worker.pid,
        "host_id": worker.host_id,
        "host_ip": worker.host_ip,
        "create_time": display_time(worker.create_time),
        "last_execution_time": display_time(worker.last_execution_time),
        "last_health_check_time": display_time(worker.last_health_check_time),
    }


def execution_view(ex: Execution, actor: Actor, api_server: str) -> dict[str, Any]:
    base = f"{actor.actor_id}/executions/{ex.execution_id}"
    return {
        "id": ex.execution_id,
        "actor_id": actor.actor_id,
        "api_server": api_server,
        "owner": actor.owner,
        "executor": ex.executor,
        "worker_id": ex.worker_id,
        "status": ex.status,
        "outcome": ex.outcome,
        "status_message": ex.status_message,
        "message_received_time": display_time(ex.message_received_time),
        "start_time": display_time(ex.start_time),
        "finish_time": display_time(ex.finish_time),
        "runtime": ex.runtime,
        "cpu": ex.cpu,
        "io": ex.io,
        "exit_code": ex.exit_code,
        "final_state": ex.final_state,
        "content_type": ex.content_type,
        "message": ex.message,
        "params": ex.params,
        "attempts": ex.attempts,
        "limits": ex.limits,
        "dead_letter": ex.dead_letter,
        "resent_as": ex.resent_as,
        "_links": links(api_server, actor.owner, self=base, logs=f"{base}/logs"),
    }


def execution_summary_item(ex: Execution) -> dict[str, Any]:
    return {
        "id": ex.execution_id,
        "status": ex.status,
        "outcome": ex.outcome,
        "message_received_time": display_time(ex.message_received_time),
        "start_time": display_time(ex.start_time),
        "finish_time": display_time(ex.finish_time),
    }


def executions_summary(actor: Actor, totals: Totals, page: list[Execution], api_server: str) -> dict[str, Any]:
    return {
        "actor_id": actor.actor_id,
        "api_server": api_server,
        "owner": actor.owner,
        "total_executions": totals.count,
        "total_cpu": totals.cpu,
        "total_io": totals.io,
        "total_runtime": totals.runtime,
        "ids": [e.execution_id for e in page],  # older clients read the ids from here
        "executions": [execution_summary_item(e) for e in page],
        "_links": links(api_server, actor.owner, self=f"{actor.actor_id}/executions"),
    }


def logs_view(actor: Actor, ex: Execution, text: str, api_server: str) -> dict[str, Any]:
    base = f"{actor.actor_id}/executions/{ex.execution_id}"
    return {"logs": text, "_links": links(api_server, actor.owner, self=f"{base}/logs", execution=base)}


def log_view(record: Log, actor: Actor, api_server: str) -> dict[str, Any]:
    """One execution's logs as a search result."""
    base = f"{actor.actor_id}/executions/{record.execution_id}"
    return {
        "execution_id": record.execution_id,
        "actor_id": actor.actor_id,
        "logs": record.logs,
        "_links": links(api_server, actor.owner, self=f"{base}/logs", execution=base),
    }


def message_accepted_view(actor: Actor, ex: ExecutionRef, api_server: str) -> dict[str, Any]:
    """The answer to a POSTed message: its execution and the message echoed (never a binary one's)."""
    return {
        "execution_id": ex.execution_id,
        "msg": "binary - omitted" if ex.content_type == ContentType.BINARY.value else ex.message,
        "_links": links(
            api_server,
            actor.owner,
            self=f"{actor.actor_id}/executions/{ex.execution_id}",
            messages=f"{actor.actor_id}/messages",
        ),
    }


def mailbox_view(actor: Actor, api_server: str, **fields: Any) -> dict[str, Any]:
    return {**fields, "_links": links(api_server, actor.owner, self=f"{actor.actor_id}/messages")}


def pending_message_view(ex: Execution) -> dict[str, Any]:
    """A message waiting in an actor's mailbox, as its execution record keeps it (a peek)."""
    return {
        "execution_id": ex.execution_id,
        "message": ex.message,
        "content_type": ex.content_type,
        "params": ex.params,
        "executor": ex.executor,
        "message_received_time": display_time(ex.message_received_time),
        "attempts": ex.attempts,
    }


def dead_letter_view(ex: Execution, actor: Actor, api_server: str) -> dict[str, Any]:
    """A message a worker gave up on, with what is needed to re-send it and why it failed."""
    base = f"{actor.actor_id}/dead_letters/{ex.execution_id}"
    return {
        **pending_message_view(ex),
        "actor_id": actor.actor_id,
        "dead_letter": ex.dead_letter,
        "resent_as": ex.resent_as,
        "status_message": ex.status_message,
        "finish_time": display_time(ex.finish_time),
        "_links": links(api_server, actor.owner, self=base, execution=f"{actor.actor_id}/executions/{ex.execution_id}"),
    }


def alias_view(alias: Alias, api_server: str) -> dict[str, Any]:
    return {
        "alias": alias.alias,
        "actor_id": alias.actor_id,
        "owner": alias.owner,
        "create_time": display_time(alias.create_time),
        "_links": links(api_server, alias.owner, self=f"aliases/{alias.alias}", actor=alias.actor_id),
    }


def nonce_view(nonce: Nonce, api_server: str) -> dict[str, Any]:
    """A nonce (reference 1.4): ``actor_id`` for an actor's, ``alias`` for an alias's (the other null)."""
    base = f"aliases/{nonce.name}" if nonce.kind == "alias" else nonce.name
    return {
        "id": nonce.db_id,
        "owner": nonce.owner,
        "roles": list(nonce.roles),
        "api_server": api_server,
        "actor_id": nonce.name if nonce.kind == "actor" else None,
        "alias": nonce.name if nonce.kind == "alias" else None,
        "level": nonce.level,
        "max_uses": nonce.max_uses,
        "remaining_uses": nonce.remaining_uses,
        "current_uses": nonce.current_uses,
        "description": nonce.description,
        "create_time": display_time(nonce.create_time),
        "last_use_time": display_time(nonce.last_use_time),
        "_links": links(api_server, nonce.owner, self=f"{base}/nonces/{nonce.db_id}", **{nonce.kind: base}),
    }


def config_view(config: ActorConfig, api_server: str) -> dict[str, Any]:
    """An actor config (reference 1.4): a secret's value is shown as its stored ciphertext, never
    in clear; ``actors`` is the original's comma-separated string."""
    return {
        "name": config.name,
        "value": config.value if config.is_secret else json.loads(config.value),
        "is_secret": config.is_secret,
        "actors": ",".join(config.items),
        "owner": config.owner,
        "create_time": display_time(config.create_time),
        "last_update_time": display_time(config.last_update_time),
        "_links": links(api_server, config.owner, self=f"configs/{config.name}"),
    }
