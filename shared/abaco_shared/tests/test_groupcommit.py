"""Group commit: callers that arrive together share one flush; each gets its own outcome."""

from __future__ import annotations

import threading
import time

import pytest

from abaco_shared import groupcommit
from abaco_shared.groupcommit import GroupCommit


class Store:
    """A flush that records its batches; the first one waits until ``release`` is set, so that
    the callers who arrive meanwhile queue up behind it."""

    def __init__(self, hold_first: bool = False, fail: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail = fail or set()

    def flush(self, items):
        self.batches.append(list(items))
        self.entered.set()
        self.release.wait(5)
        return [ValueError(f"item {i} refused") if i in self.fail else i * 10 for i in items]


def run_all(commit: GroupCommit, items, started: threading.Event | None = None):
    """Submit each item from its own thread; the outcome (value or exception) of each."""
    out: dict[int, object] = {}

    def call(i):
        try:
            out[i] = commit.submit(i)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in items]
    for t in threads:
        t.start()
    return threads, out


def wait_queued(commit: GroupCommit, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(commit._waiting) < n:
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.001)


def test_a_lone_caller_flushes_its_own_item_at_once():
    store = Store()
    commit = GroupCommit(store.flush)
    assert commit.submit(3) == 30
    assert store.batches == [[3]]
    assert (commit.batches, commit.items) == (1, 1)


def test_callers_that_arrive_during_a_flush_share_the_next_one():
    store = Store(hold_first=True)
    commit = GroupCommit(store.flush)
    first, out = run_all(commit, [0])
    assert store.entered.wait(5)
    others, more = run_all(commit, [1, 2, 3, 4])
    wait_queued(commit, 4)
    store.release.set()
    for t in first + others:
        t.join(5)
    assert out == {0: 0} and more == {1: 10, 2: 20, 3: 30, 4: 40}
    assert store.batches[0] == [0]
    assert sorted(store.batches[1]) == [1, 2, 3, 4] and len(store.batches) == 2


def test_a_batch_takes_at_most_max_batch_items_and_the_rest_follow():
    store = Store(hold_first=True)
    commit = GroupCommit(store.flush, max_batch=2)
    first, _ = run_all(commit, [0])
    assert store.entered.wait(5)
    others, out = run_all(commit, [1, 2, 3, 4, 5])
    wait_queued(commit, 5)
    store.release.set()
    for t in first + others:
        t.join(5)
    assert sorted(out) == [1, 2, 3, 4, 5] and all(out[i] == i * 10 for i in out)
    assert [len(b) for b in store.batches] == [1, 2, 2, 1]


def test_each_caller_gets_its_own_outcome_and_a_refused_item_fails_only_its_caller():
    store = Store(hold_first=True, fail={2})
    commit = GroupCommit(store.flush)
    first, _ = run_all(commit, [0])
    assert store.entered.wait(5)
    others, out = run_all(commit, [1, 2, 3])
    wait_queued(commit, 3)
    store.release.set()
    for t in first + others:
        t.join(5)
    assert out[1] == 10 and out[3] == 30
    assert isinstance(out[2], ValueError) and "item 2 refused" in str(out[2])


def test_a_flush_that_raises_fails_every_caller_of_its_batch_each_with_its_own_exception():
    gate = threading.Event()
    calls = []

    def flush(items):
        calls.append(list(items))
        if len(calls) == 1:
            gate.wait(5)
            return [i for i in items]
        raise ConnectionError("store unreachable")

    commit = GroupCommit(flush)
    first, out0 = run_all(commit, [0])
    while not calls:
        time.sleep(0.001)
    others, out = run_all(commit, [1, 2, 3])
    wait_queued(commit, 3)
    gate.set()
    for t in first + others:
        t.join(5)
    assert out0 == {0: 0}
    errors = [out[i] for i in (1, 2, 3)]
    assert all(isinstance(e, ConnectionError) and "store unreachable" in str(e) for e in errors)
    assert len({id(e) for e in errors}) == 3  # no two threads raise one object


def test_a_flush_with_the_wrong_number_of_outcomes_fails_its_callers():
    commit = GroupCommit(lambda items: [])
    with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
        commit.submit(1)


def test_after_a_failed_batch_the_next_caller_still_leads():
    state = {"fail": True}

    def flush(items):
        if state["fail"]:
            raise OSError("down")
        return list(items)

    commit = GroupCommit(flush)
    with pytest.raises(OSError):
        commit.submit(1)
    state["fail"] = False
    assert commit.submit(2) == 2


def test_many_threads_each_get_their_own_value():
    commit = GroupCommit(lambda items: [i * 2 for i in items], max_batch=8)
    threads, out = run_all(commit, range(200))
    for t in threads:
        t.join(10)
    assert out == {i: i * 2 for i in range(200)}
    assert commit.items == 200


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        GroupCommit(lambda items: list(items), max_batch=0)


# -- a caller's thread that goes away (SystemExit, KeyboardInterrupt) strands nobody ------------


class _Interrupting(threading.Event):
    """A slot's wake-up that raises KeyboardInterrupt: at once, or once it is set."""

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when

    def wait(self, timeout=None):
        if self.when == "promoted":
            super().wait(5)
        raise KeyboardInterrupt


def interrupting_slots(monkeypatch, when: str):
    """Slots of item "x" get an interrupting wake-up."""
    real = groupcommit._Slot

    def make(item):
        slot = real(item)
        if item == "x":
            slot.wake = _Interrupting(when)
        return slot

    monkeypatch.setattr(groupcommit, "_Slot", make)


def start(commit, item, out):
    def call():
        try:
            out[item] = commit.submit(item)
        except BaseException as exc:  # noqa: BLE001 - the test looks at what each thread raised
            out[item] = exc

    thread = threading.Thread(target=call)
    thread.start()
    return thread


@pytest.mark.parametrize("when", ["queued", "promoted"])
def test_a_waiting_caller_that_is_interrupted_is_dropped_and_the_others_go_on(monkeypatch, when):
    interrupting_slots(monkeypatch, when)
    batches = []
    release = threading.Event()

    def flush(items):
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(5)
        return [f"{i}!" for i in items]

    commit = GroupCommit(flush, max_batch=1)
    out: dict = {}
    threads = [start(commit, "a", out)]
    while not batches:
        time.sleep(0.001)
    threads.append(start(commit, "x", out))
    if when == "queued":
        threads[-1].join(5)  # gone before anything else happens
    else:
        wait_queued(commit, 1)
    threads.append(start(commit, "c", out))
    wait_queued(commit, 1 if when == "queued" else 2)
    release.set()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    assert out["a"] == "a!" and out["c"] == "c!" and isinstance(out["x"], KeyboardInterrupt)
    assert batches == [["a"], ["c"]]  # the interrupted caller's item was never written
    assert commit.submit("d") == "d!"  # and the group still has a leader when needed


def test_a_leader_that_is_interrupted_fails_its_followers_with_an_ordinary_error():
    release = threading.Event()
    calls = []

    def flush(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
            return list(items)
        if len(calls) == 2:
            raise SystemExit("stopping")
        return list(items)

    commit = GroupCommit(flush)
    out: dict = {}
    threads = [start(commit, "a", out)]
    while not calls:
        time.sleep(0.001)
    threads += [start(commit, "b", out), start(commit, "c", out)]
    wait_queued(commit, 2)
    release.set()
    for t in threads:
        t.join(5)
    assert out["a"] == "a"
    leader, follower = (out["b"], out["c"]) if isinstance(out["b"], SystemExit) else (out["c"], out["b"])
    assert isinstance(leader, SystemExit)
    assert isinstance(follower, RuntimeError) and "stopped" in str(follower)
    assert isinstance(follower.__cause__, SystemExit)
    assert commit.submit("d") == "d"


# -- lingering for callers on their way ----------------------------------------------------------
def announced(commit: GroupCommit, then=None):
    """A thread that announces itself to ``commit``, waits for the returned event, then calls
    ``then()`` (or leaves without submitting); returned once it has announced itself."""
    go, ready = threading.Event(), threading.Event()

    def caller():
        with commit.expecting():
            ready.set()
            go.wait(5)
            if then is not None:
                then()

    t = threading.Thread(target=caller)
    t.start()
    assert ready.wait(5)
    return t, go


def test_a_lone_caller_that_announced_itself_does_not_linger():
    store = Store()
    commit = GroupCommit(store.flush, linger=5.0)  # a wait would be seen
    started = time.monotonic()
    with commit.expecting():
        assert commit.submit(1) == 10
    assert time.monotonic() - started < 1.0
    assert commit._coming == 0


def test_a_leader_waits_for_a_caller_on_its_way_and_both_share_one_flush():
    store = Store()
    commit = GroupCommit(store.flush, linger=5.0)
    out: dict[str, object] = {}
    t, go = announced(commit, lambda: out.update(later=commit.submit(2)))  # still parsing its request
    leader = threading.Thread(target=lambda: out.update(first=commit.submit(1)))
    leader.start()
    time.sleep(0.05)
    assert store.batches == []  # the leader waits for the caller on its way
    go.set()
    t.join(5)
    leader.join(5)
    assert out == {"first": 10, "later": 20}
    assert store.batches == [[1, 2]]


def test_a_leader_waits_at_most_linger_for_a_caller_that_never_submits():
    store = Store()
    commit = GroupCommit(store.flush, linger=0.05)
    t, done = announced(commit)
    started = time.monotonic()
    assert commit.submit(1) == 10
    assert 0.04 <= time.monotonic() - started < 2.0
    done.set()
    t.join(5)
    assert commit._coming == 0  # leaving without submitting is counted out


def test_a_caller_that_leaves_without_submitting_releases_a_lingering_leader():
    store = Store()
    commit = GroupCommit(store.flush, linger=5.0)
    t, leave = announced(commit)  # e.g. a request refused with a 400 after it announced itself
    result: dict[str, object] = {}
    leader = threading.Thread(target=lambda: result.update(v=commit.submit(1)))
    started = time.monotonic()
    leader.start()
    time.sleep(0.05)
    leave.set()
    leader.join(5)
    t.join(5)
    assert result == {"v": 10} and time.monotonic() - started < 2.0


def test_expecting_nests_and_counts_a_thread_once():
    commit = GroupCommit(Store().flush, linger=1.0)
    with commit.expecting():
        with commit.expecting():
            assert commit._coming == 1
        assert commit.submit(1) == 10
        assert commit._coming == 0
    assert commit._coming == 0


def test_without_linger_expecting_counts_nothing_and_linger_must_not_be_negative():
    commit = GroupCommit(Store().flush)
    with commit.expecting():
        assert commit._coming == 0
    with pytest.raises(ValueError):
        GroupCommit(Store().flush, linger=-1)
