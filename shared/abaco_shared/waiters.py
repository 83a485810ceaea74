"""Completion signals for synchronous callers, over Redis (hot and short-lived).

The worker pushes one token when an execution is terminal; a caller blocks on it with a timeout.
The token outlives the push by ``TTL`` seconds, so a caller that starts waiting late still sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from .errors import ChannelError

__all__ = ["CompletionSignals"]

log = logging.getLogger(__name__)

TTL = 120


class CompletionSignals:
    """Per-execution "it is done" tokens in Redis under ``<prefix>done:<execution key>``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key_for(self, ex_dbid: str) -> str:
        return f"{self.prefix}done:{ex_dbid}"

    def notify(self, ex_dbid: str) -> None:
        """Signal that an execution reached a terminal state (best effort: waiters also poll)."""
        key = self.key_for(ex_dbid)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.rpush(key, "1")
                pipe.expire(key, TTL)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not signal the end of %s: %s", ex_dbid, exc)

    def wait(
        self,
        ex_dbid: str,
        timeout: float,
        is_done: Callable[[], bool] | None = None,
        slice_seconds: int = 2,
    ) -> bool:
        """Block until the execution is signalled done; False on timeout.

        Waits in short slices (below the client's socket timeout) and between them asks
        ``is_done`` (the record), so an execution ended by a path that sends no signal is noticed.
        """
        key = self.key_for(ex_dbid)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                got = self.client.blpop([key], timeout=max(1, min(slice_seconds, int(remaining))))
            except redis.RedisError as exc:
                raise ChannelError(f"cannot wait for execution {ex_dbid}: {exc}") from exc
            if got is not None:
                # BLPOP took the token: put it back so that other waiters for this execution see it
                self.notify(ex_dbid)
                return True
            if is_done is not None and is_done():
                return True
