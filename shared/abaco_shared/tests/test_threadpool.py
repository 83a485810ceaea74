"""The API servers' thread pool wakes the thread that went idle last."""

from __future__ import annotations

import threading
import time

from abaco_shared.threadpool import LifoCondition, dispatcher


def waiting(cond: LifoCondition, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(cond._waiters) < n:
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_notify_wakes_the_newest_waiter_and_notify_all_the_rest():
    cond = LifoCondition()
    woke: list[str] = []

    def wait(name: str) -> None:
        with cond:
            cond.wait(5)
            woke.append(name)

    threads = []
    for i, name in enumerate("abc"):
        t = threading.Thread(target=wait, args=(name,))
        t.start()
        threads.append(t)
        waiting(cond, i + 1)  # a, then b, then c wait
    with cond:
        cond.notify()
    threads[2].join(5)
    assert woke == ["c"]
    with cond:
        cond.notify_all()
    for t in threads:
        t.join(5)
    assert sorted(woke) == ["a", "b", "c"]


def test_a_waiter_that_timed_out_is_not_counted_as_woken():
    cond = LifoCondition()
    with cond:
        assert cond.wait(0.01) is False
        assert not cond._waiters
        cond.notify()  # nobody waits: a no-op


def test_the_dispatcher_runs_tasks_on_its_threads_and_reuses_the_last_idle_one():
    pool = dispatcher(4)
    try:
        ran: list[str] = []
        done = threading.Event()

        class Task:
            def service(self) -> None:
                ran.append(threading.current_thread().name)
                if len(ran) == 5:
                    done.set()

            def cancel(self) -> None:
                pass

        for _ in range(5):
            pool.add_task(Task())
            time.sleep(0.02)  # each finds the pool idle again
        assert done.wait(5)
        assert len(set(ran[1:])) == 1  # one warm thread took them all, after the first
    finally:
        pool.shutdown(timeout=1)
