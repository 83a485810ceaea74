"""Completion signals for synchronous callers, over Redis (hot and short-lived).

The worker pushes one token when an execution is terminal; a caller blocks on it with a timeout.
The token outlives the push by ``TTL`` seconds, so a caller that starts waiting late still sees it.
"""

from __future__ import annotations

import logging

import redis

__all__ = ["notify_done", "wait_done"]

log = logging.getLogger(__name__)

TTL = 120


def _key(prefix: str, execution_dbid: str) -> str:
    return f"{prefix}done:{execution_dbid}"


def notify_done(client: redis.Redis, prefix: str, execution_dbid: str) -> None:
    """Signal that an execution reached a terminal state (best effort: waiters also time out)."""
    key = _key(prefix, execution_dbid)
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.rpush(key, "1")
            pipe.expire(key, TTL)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not signal the end of %s: %s", execution_dbid, exc)


def wait_done(client: redis.Redis, prefix: str, execution_dbid: str, timeout: float) -> bool:
    """Block until the execution is signalled done; False on timeout."""
    key = _key(prefix, execution_dbid)
    # BLPOP takes the token; put it back so that other waiters for the same execution see it too
    got = client.blpop([key], timeout=max(1, int(timeout)))
    if got is None:
        return False
    notify_done(client, prefix, execution_dbid)
    return True
