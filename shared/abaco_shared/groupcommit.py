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
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
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

    def __init__(self, flush: Callable[[Sequence[T]], Sequence[R | BaseException]], max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._flush = flush
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T]] = []
        self._leading = False  # a batch is being written
        self.batches = 0  # written so far, and the items in them (for benchmarks and tests)
        self.items = 0

    def submit(self, item: T) -> R:
        """Write ``item`` (with whatever else is waiting); its outcome, or its exception raised."""
        slot: _Slot[T] = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
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
