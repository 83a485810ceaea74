"""Group commit: concurrent callers' writes go to a store in one round trip.

The messages API accepts a message with two writes, the execution's insert and the confirmed
publish. Each alone costs a round trip and most of its CPU in the client's per-call machinery
(server selection, session, command building; a frame, then a wait for one confirm), and as much
again on the store's side. When many requests arrive at once, one ``insert_many`` and one run of
publishes with a single wait for their confirms do the same work for a fraction of that.

Leader and followers, no thread and no timer of its own: the first caller to arrive leads. It
takes every item waiting (at most ``max_batch``, its own first), writes them with one call of
``flush`` and hands each caller its own outcome. Callers that arrive meanwhile wait; when the
leader is done, the oldest of them leads the next batch. A lone caller writes its own item at
once, as it would without batching, so nothing ever waits for a batch to fill.

``flush(items)`` returns one outcome per item, in order: a value, or the exception that item's
caller raises. If ``flush`` itself raises, every caller of that batch raises it (a copy each, so
that no two threads raise one object).

A batch forms only from callers that arrive while another batch is written. Callers that are
known to be on their way can say so (``expecting()``: a request that will submit once it has
parsed its input): a leader then waits for them, at most ``linger`` seconds, before it takes its
batch. Under load that turns many batches of one or two into fewer, larger ones (the per-call
cost of the client, and of the store, is paid once per batch); a lone caller, with no one else
on the way, still writes at once.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T]):
    __slots__ = ("item", "outcome", "done", "lead", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.outcome: object = None
        self.done = False
        self.lead = False  # promoted: this caller leads the next batch
        self.wake = threading.Event()


def _own_copy(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one more thread to raise (its cause: the original)."""
    try:
        twin = copy.copy(exc)
    except Exception:  # an exception that cannot be rebuilt from its args: share it
        return exc
    twin.__cause__ = exc
    return twin


class GroupCommit(Generic[T, R]):
    """Runs ``flush`` over the items of callers that arrive together (see the module's notes)."""

    def __init__(
        self, flush: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int = 64, linger: float = 0.0
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger < 0:
            raise ValueError("linger must not be negative")
        self._flush = flush
        self.max_batch = max_batch
        self.linger = linger  # the longest a leader waits for callers that are on their way
        self._lock = threading.Lock()
        self._arrival = threading.Condition(self._lock)  # a lingering leader waits on it
        self._waiting: list[_Slot[T]] = []
        self._leading = False  # a batch is being written
        self._coming = 0  # callers in expecting() that have not submitted yet
        self._local = threading.local()  # this thread's caller is counted in _coming
        self.batches = 0  # written so far, and the items in them (for benchmarks and tests)
        self.items = 0

    @contextmanager
    def expecting(self) -> Iterator[None]:
        """This thread will (probably) ``submit`` before the block ends: a leader may wait for it.
        Leaving the block without submitting is fine; the leader's wait is bounded anyway."""
        if self.linger <= 0 or getattr(self._local, "coming", False):
            yield
            return
        with self._lock:
            self._coming += 1
        self._local.coming = True
        try:
            yield
        finally:
            if self._local.coming:
                self._local.coming = False
                with self._lock:
                    self._coming -= 1
                    self._arrival.notify()

    def submit(self, item: T) -> R:
        """Write ``item`` (with whatever else is waiting); its outcome, or its exception raised."""
        slot: _Slot[T] = _Slot(item)
        arrived = getattr(self._local, "coming", False)
        with self._lock:
            self._waiting.append(slot)
            if arrived:
                self._local.coming = False
                self._coming -= 1
                self._arrival.notify()
            lead = not self._leading
            self._leading = True
        if not lead:
            try:
                slot.wake.wait()
                lead = not slot.done  # promoted: this caller's item leads the next batch
            except BaseException:  # e.g. SystemExit in the main thread: leave no one stranded
                self._abandon(slot)
                raise
        if lead:
            self._lead()
        outcome = slot.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    def _abandon(self, slot: _Slot[T]) -> None:
        """A waiting caller is going away. Its item is not written, unless a batch took it already
        (its leader finishes that), and a lead it was given passes on."""
        with self._lock:
            if slot not in self._waiting:
                return
            self._waiting.remove(slot)
            if slot.lead:
                self._promote_next()

    def _promote_next(self) -> None:
        """Hand the lead to the oldest waiting caller, if any (under the lock)."""
        successor = self._waiting[0] if self._waiting else None
        self._leading = successor is not None
        if successor is not None:
            successor.lead = True
            successor.wake.set()

    def _lead(self) -> None:
        batch: list[_Slot[T]] = []
        try:
            with self._lock:
                self._await_coming()
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
            outcomes = self._run([slot.item for slot in batch])
        except BaseException as exc:  # the leader's thread is going away; its followers are not
            for slot in batch:
                failure = RuntimeError(f"the thread writing this batch stopped: {exc!r}")
                failure.__cause__ = exc
                self._settle(slot, failure)
            raise
        finally:
            with self._lock:
                self._promote_next()
        for i, (slot, outcome) in enumerate(zip(batch, outcomes, strict=True)):
            if isinstance(outcome, BaseException) and any(o is outcome for o in outcomes[:i]):
                outcome = _own_copy(outcome)  # no two threads raise one object
            self._settle(slot, outcome)

    def _await_coming(self) -> None:
        """Wait (under the lock) while callers are on their way and the batch has room, at most
        ``linger`` seconds."""
        if self._coming <= 0 or len(self._waiting) >= self.max_batch:
            return
        deadline = time.monotonic() + self.linger
        while self._coming > 0 and len(self._waiting) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrival.wait(remaining)

    @staticmethod
    def _settle(slot: _Slot[T], outcome: object) -> None:
        slot.outcome = outcome
        slot.done = True
        slot.wake.set()

    def _run(self, items: list[T]) -> list[object]:
        self.batches += 1
        self.items += len(items)
        try:
            outcomes: list[object] = list(self._flush(items))
        except Exception as exc:
            return [exc] * len(items)
        if len(outcomes) != len(items):
            err = RuntimeError(f"a group commit's flush gave {len(outcomes)} outcomes for {len(items)} items")
            return [err] * len(items)
        return outcomes
