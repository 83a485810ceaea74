"""SyncGate: bounded synchronous waits, per process and per tenant+user, released however a call ends."""

import threading
import time

import pytest
import redis.exceptions

from abaco_shared.config import load_config
from abaco_shared.errors import ConfigError, TooManyRequests
from abaco_shared.limits import SyncGate, UserSlots


def test_a_user_gets_at_most_max_per_user_slots():
    gate = SyncGate(max_total=8, max_per_user=2)
    gate.acquire("dev", "alice")
    gate.acquire("dev", "alice")

    with pytest.raises(TooManyRequests) as caught:
        gate.acquire("dev", "alice")

    assert caught.value.http_status == 429
    assert caught.value.message.startswith("Too many synchronous calls in flight")
    assert "2 per user" in caught.value.message
    assert gate.held_by("dev", "alice") == 2 and gate.in_flight == 2


def test_the_same_user_name_in_another_tenant_has_its_own_slots():
    gate = SyncGate(max_total=8, max_per_user=1)
    gate.acquire("dev", "alice")

    gate.acquire("other", "alice")
    gate.acquire("dev", "bob")

    assert gate.in_flight == 3


def test_the_process_wide_limit_holds_across_users():
    gate = SyncGate(max_total=3, max_per_user=2)
    for user in ("a", "b", "c"):
        gate.acquire("dev", user)

    with pytest.raises(TooManyRequests) as caught:
        gate.acquire("dev", "d")

    assert "on this server (at most 3)" in caught.value.message
    gate.release("dev", "a")
    gate.acquire("dev", "d")  # a released slot is free again


def test_a_refused_call_takes_nothing():
    gate = SyncGate(max_total=1, max_per_user=1)
    gate.acquire("dev", "alice")
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            gate.acquire("dev", "bob")

    gate.release("dev", "alice")

    assert gate.in_flight == 0 and gate.held_by("dev", "bob") == 0
    gate.acquire("dev", "bob")


def test_slot_releases_on_success_and_on_exceptions():
    gate = SyncGate(max_total=1, max_per_user=1)
    with gate.slot("dev", "alice"):
        assert gate.held_by("dev", "alice") == 1
    assert gate.in_flight == 0

    class WaitTimedOut(Exception):
        pass

    with pytest.raises(WaitTimedOut), gate.slot("dev", "alice"):
        raise WaitTimedOut  # e.g. the synchronous wait's 504

    assert gate.in_flight == 0 and gate.held_by("dev", "alice") == 0
    with gate.slot("dev", "alice"):  # nothing leaked
        pass


def test_slot_refuses_before_running_the_block():
    gate = SyncGate(max_total=2, max_per_user=1)
    ran = []
    with gate.slot("dev", "alice"):
        with pytest.raises(TooManyRequests), gate.slot("dev", "alice"):
            ran.append("queued")  # never reached: nothing is queued when refused
        assert gate.held_by("dev", "alice") == 1  # the refusal did not release the outer slot
    assert ran == [] and gate.in_flight == 0


def test_release_without_acquire_is_an_error():
    gate = SyncGate(max_total=1, max_per_user=1)
    with pytest.raises(RuntimeError):
        gate.release("dev", "alice")


@pytest.mark.parametrize(("total", "per_user"), [(0, 1), (1, 0)])
def test_limits_below_one_are_refused(total, per_user):
    with pytest.raises(ValueError):
        SyncGate(total, per_user)


def test_concurrent_threads_never_exceed_either_limit():
    gate = SyncGate(max_total=5, max_per_user=2)
    users = [f"u{i}" for i in range(4)]
    peak_total = 0
    peak_user: dict[str, int] = {}
    refused = 0
    lock = threading.Lock()
    start = threading.Barrier(16)

    def caller(user: str) -> None:
        nonlocal peak_total, refused
        start.wait()
        for _ in range(200):
            try:
                with gate.slot("dev", user):
                    with lock:
                        peak_total = max(peak_total, gate.in_flight)
                        peak_user[user] = max(peak_user.get(user, 0), gate.held_by("dev", user))
                    time.sleep(0.0005)  # hold it a moment, as a wait does
            except TooManyRequests:
                with lock:
                    refused += 1

    threads = [threading.Thread(target=caller, args=(users[i % 4],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert peak_total <= 5 and max(peak_user.values()) <= 2
    assert gate.in_flight == 0, "every slot was released"
    assert refused > 0, "16 threads over 4 users contended for 2 slots each"


def test_a_held_slot_blocks_nobody_else_while_it_waits():
    """Slots are taken without blocking: a caller over the limit is answered at once."""
    gate = SyncGate(max_total=2, max_per_user=1)
    holding = threading.Event()
    finish = threading.Event()

    def slow() -> None:
        with gate.slot("dev", "alice"):
            holding.set()
            finish.wait(10)

    worker = threading.Thread(target=slow)
    worker.start()
    assert holding.wait(5)
    with pytest.raises(TooManyRequests):
        gate.acquire("dev", "alice")  # immediate, not after alice's wait
    with gate.slot("dev", "bob"):
        pass
    finish.set()
    worker.join(5)
    assert gate.in_flight == 0


def test_the_config_defaults_and_refuses_limits_below_one():
    cfg = load_config(env={})
    assert (cfg.http.max_sync_waits, cfg.http.max_sync_waits_per_user) == (256, 200)
    for key in ("MAX_SYNC_WAITS", "MAX_SYNC_WAITS_PER_USER"):
        with pytest.raises(ConfigError, match="max_sync_waits"):
            load_config(env={f"ABACO__HTTP__{key}": "0"})


# ------------------------------------------------------------------ per-user slots across processes


class DownRedis:
    def pipeline(self, *a, **k):
        raise redis.exceptions.ConnectionError("refused")

    zrem = pipeline


def test_a_users_bound_holds_across_processes(redis_client):
    slots = UserSlots(redis_client, "abaco:", "sync", lease=60)
    first, second = SyncGate(10, 2, slots), SyncGate(10, 2, slots)  # two messages processes
    first.acquire("dev", "alice")
    second.acquire("dev", "alice")
    with pytest.raises(TooManyRequests, match="you already have 2 waiting"):
        first.acquire("dev", "alice")
    assert first.in_flight == 1 and first.held_by("dev", "alice") == 1  # the refusal took nothing
    second.acquire("dev", "bob")
    second.release("dev", "alice")
    first.acquire("dev", "alice")


def test_a_killed_processs_slots_come_back_when_their_lease_ends(redis_client):
    now = [1000.0]
    slots = UserSlots(redis_client, "abaco:", "sync", lease=60, clock=lambda: now[0])
    SyncGate(10, 1, slots).acquire("dev", "alice")  # never released: its process was killed
    gate = SyncGate(10, 1, slots)
    with pytest.raises(TooManyRequests):
        gate.acquire("dev", "alice")
    now[0] += 61
    gate.acquire("dev", "alice")


def test_without_redis_the_process_counts_the_users_slots():
    gate = SyncGate(10, 2, UserSlots(DownRedis(), "abaco:", "sync", lease=60))
    gate.acquire("dev", "alice")
    gate.acquire("dev", "alice")
    with pytest.raises(TooManyRequests):
        gate.acquire("dev", "alice")
    gate.release("dev", "alice")  # giving back to an unreachable Redis is only logged
    gate.acquire("dev", "alice")
