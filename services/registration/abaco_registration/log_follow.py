"""``GET .../executions/{eid}/logs?follow=true``: an execution's output as a text/plain stream.

The answer is not the JSON envelope: it is the output itself, sent (chunked) as it grows, and
it ends when the execution ends (after its final output) or after ``http.log_follow_timeout``
seconds, whichever comes first. The output of a running container reaches its logs record
about once a second (the worker's ``live_logs``); a follow reads that record every
``POLL`` seconds and sends what is new. Nothing is sent until there is some output.

Each follow holds a request thread: at most ``http.max_log_follows`` at once per process and
``http.max_log_follows_per_user`` per tenant and user (429 beyond, before anything is sent);
registration serves with that many threads on top of its base ``threads``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from bottle import response

from abaco_shared import executions, logs
from abaco_shared.auth import Principal
from abaco_shared.config import Config
from abaco_shared.errors import TooManyRequests
from abaco_shared.limits import SyncGate, UserSlots
from abaco_shared.models import Execution

__all__ = ["LogFollows", "POLL"]

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between two reads of the logs record


class LogFollows:
    """The follows of one registration process: their bound, and the stream of each."""

    def __init__(
        self,
        max_total: int,
        max_per_user: int,
        timeout: float,
        poll: float = POLL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        shared: UserSlots | None = None,
    ) -> None:
        self.gate = SyncGate(max_total, max_per_user, shared)
        self.timeout = timeout
        self.poll = poll
        self.clock = clock
        self.sleep = sleep

    @classmethod
    def from_config(cls, cfg: Config, redis_client: Any = None) -> LogFollows:
        """With ``redis_client``, a user's follows are bounded across every registration process."""
        http = cfg.http
        lease = http.log_follow_timeout + 60
        shared = UserSlots(redis_client, cfg.redis.key_prefix, "follows", lease) if redis_client is not None else None
        return cls(http.max_log_follows, http.max_log_follows_per_user, http.log_follow_timeout, shared=shared)

    def follow(self, who: Principal, ex: Execution) -> Iterator[bytes]:
        """The response body of a follow (its headers set here); a 429 at once over a limit."""
        self._acquire(who)
        response.content_type = "text/plain; charset=utf-8"
        response.set_header("Cache-Control", "no-cache")
        response.set_header("X-Accel-Buffering", "no")  # nginx: pass each chunk on at once
        response.set_header("X-Abaco-Execution-Id", ex.execution_id)
        return self.stream(who, ex.db_id)

    def _acquire(self, who: Principal) -> None:
        try:
            self.gate.acquire(who.tenant, who.user)
        except TooManyRequests:
            if self.gate.held_by(who.tenant, who.user) >= self.gate.max_per_user:
                raise TooManyRequests(
                    f"Too many log follows in flight: you already have {self.gate.max_per_user} (at most "
                    f"{self.gate.max_per_user} per user). Close one, or read the logs without follow."
                ) from None
            raise TooManyRequests(
                f"Too many log follows in flight on this server (at most {self.gate.max_total}); "
                "try again shortly, or read the logs without follow."
            ) from None

    def stream(self, who: Principal, ex_dbid: str) -> Iterator[bytes]:
        """What is new in the logs record, every ``poll`` seconds, until the execution ends; the
        slot taken by :meth:`follow` is given back however the stream ends (a client that goes
        away included: the server closes the iterator)."""
        sent = 0
        deadline = self.clock() + self.timeout
        try:
            while True:
                ended = executions.is_terminal(ex_dbid)  # first: the final logs are saved before the end
                text = logs.text_of(ex_dbid)
                if len(text) > sent:
                    yield text[sent:].encode()
                    sent = len(text)
                if ended or self.clock() >= deadline:
                    return
                self.sleep(self.poll)
        except Exception:  # the status line is sent: all that can be done is to end the stream
            log.exception("a log follow failed", extra={"execution_id": ex_dbid})
        finally:
            self.gate.release(who.tenant, who.user)
