"""The environment an actor container sees (reference section 2)."""

from __future__ import annotations

import json
from typing import Any

from abaco_shared.envvars import sender_may_set
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Actor

__all__ = ["container_env"]


def _as_env(value: Any) -> str:
    # docker-py stringifies with str(): dicts arrive as a Python repr, which clients parse
    return value if isinstance(value, str) else str(value)


def container_env(
    actor: Actor,
    msg: MailboxMessage,
    worker_id: str,
    api_server: str,
    access_token: str = "",
    actor_configs: dict[str, Any] | None = None,
) -> dict[str, str]:
    """``access_token`` is the execution's token from clientg (actors with ``token`` on), else "".
    ``actor_configs`` (``{config name: value}``, secrets in clear) becomes ``_actor_configs``, a
    Python repr as the original's, and ``_actor_configs_json``, exact JSON."""
    # the sender's query parameters first, never the names that steer how programs load (LD_*,
    # PATH, PYTHON*...); then the owner's default_environment, which parameters cannot override;
    # then what the platform set at POST (_abaco_*) and here
    env: dict[str, str] = {str(k): _as_env(v) for k, v in msg.env.items() if sender_may_set(str(k))}
    env.update({str(k): _as_env(v) for k, v in (actor.default_environment or {}).items()})
    env.update({str(k): _as_env(v) for k, v in msg.env.items() if str(k).startswith("_abaco_")})
    env.update(
        {
            "_abaco_access_token": access_token,
            "_abaco_actor_dbid": actor.db_id,
            "_abaco_actor_id": actor.actor_id,
            "_abaco_worker_id": worker_id,
            "_abaco_container_repo": actor.image,
            "_abaco_actor_state": _as_env(actor.state),
            "_abaco_actor_name": actor.name or "None",
            "_abaco_api_server": msg.env.get("_abaco_api_server", api_server),
            "_abaco_Content_Type": msg.content_type,
            "_abaco_Content-Type": msg.content_type,
        }
    )
    if actor_configs is not None:
        env["_actor_configs"] = str(actor_configs)
        env["_actor_configs_json"] = json.dumps(actor_configs)
    if msg.content_type != "application/octet-stream":
        env["MSG"] = _as_env(msg.message)
        if msg.content_type == "application/json":
            env["_abaco_MSG_JSON"] = json.dumps(msg.message)
    return env
