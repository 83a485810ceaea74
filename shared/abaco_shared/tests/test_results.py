"""Execution results: the store (order, atomic pops, paging, expiry, deletion), the synchronous
answer built on it (first result, else logs), the per-call timeout and the config that bounds them."""

import re
import threading
from pathlib import Path

import pytest

from abaco_shared import actors, executions, logs, results
from abaco_shared.config import MAX_SOCKET_DIR, MAX_SYNC_WAITS, load_config
from abaco_shared.errors import ConfigError, ValidationError, WaitTimeout
from abaco_shared.models import utcnow
from abaco_shared.results import Result
from abaco_shared.store import connect_redis
from abaco_shared.waiters import CompletionSignals, Signal
from abaco_shared.workflows.sync_calls import sync_timeout_of, wait_for_answer

ROOT = Path(__file__).resolve().parents[3]
EX = "dev_A1_E1"


@pytest.fixture
def signals(redis_client):
    return CompletionSignals(redis_client, "abaco:")


@pytest.fixture
def ex(mongo):
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    return executions.submit(actor, "E1", "alice", "str", "hi", {}).load()


def keep(*datagrams: bytes, ex_dbid: str = EX, ttl: int | None = None) -> None:
    for seq, data in enumerate(datagrams):
        results.store(ex_dbid, "dev_A1", seq, data, ttl)


# -- the store -----------------------------------------------------------------------------------


def test_results_pop_in_order_one_at_a_time_then_none(mongo):
    keep(b"one", b"two", b"three")

    assert [results.pop_next(EX) for _ in range(4)] == [b"one", b"two", b"three", None]
    assert Result.objects(ex_dbid=EX, consumed=True).count() == 3  # consumed, not deleted


def test_results_are_ordered_by_sequence_not_by_arrival_in_the_store(mongo):
    for seq in (10, 2, 1):
        results.store(EX, "dev_A1", seq, f"#{seq}".encode())

    assert [results.pop_next(EX) for _ in range(3)] == [b"#1", b"#2", b"#10"]


def test_results_are_per_execution(mongo):
    keep(b"mine")
    keep(b"theirs", ex_dbid="dev_A1_E2")

    assert results.pop_next(EX) == b"mine" and results.pop_next(EX) is None
    assert results.pop_next("dev_A1_E2") == b"theirs"


def test_a_page_lists_every_result_in_order_without_consuming(mongo):
    keep(b"one", b"two", b"three")
    results.pop_next(EX)

    total, page = results.page(EX, limit=2, skip=1)

    assert total == 3
    assert [(r.seq, bytes(r.data), r.size, r.consumed) for r in page] == [
        (1, b"two", 3, False),
        (2, b"three", 5, False),
    ]
    assert results.page(EX, limit=0, skip=0) == (3, [])
    assert results.pop_next(EX) == b"two"


def test_storing_the_same_datagram_again_overwrites_it(mongo):
    keep(b"one")
    keep(b"one")

    assert Result.objects(ex_dbid=EX).count() == 1


def test_results_expire_like_logs_when_a_ttl_is_given(mongo):
    keep(b"kept")
    keep(b"expiring", ex_dbid="dev_A1_E2", ttl=60)

    assert Result.objects.get(ex_dbid=EX).exp is None
    exp = Result.objects.get(ex_dbid="dev_A1_E2").exp
    assert 50 <= (exp - utcnow()).total_seconds() <= 60
    ttl_index = [i for i in Result._meta["indexes"] if isinstance(i, dict) and i.get("fields") == ["exp"]]
    assert ttl_index and ttl_index[0]["expireAfterSeconds"] == 0


def test_deleting_by_execution_and_by_actor(mongo):
    keep(b"a", b"b")
    keep(b"c", ex_dbid="dev_A1_E2")
    results.store("dev_B2_E1", "dev_B2", 0, b"other actor")

    assert results.delete_for_execution(EX) == 2
    assert results.delete_for_actor("dev_A1") == 1
    assert Result.objects.count() == 1


# -- synchronous answers ---------------------------------------------------------------------------


def test_the_answer_is_the_first_result_as_soon_as_it_is_signalled(ex, signals):
    keep(b"one", b"two", ex_dbid=ex.db_id)
    signals.notify_result(ex.db_id)  # the execution is still running

    answer = wait_for_answer(ex, signals, 5)

    assert (answer.body, answer.is_result) == (b"one", True)
    assert results.pop_next(ex.db_id) == b"two"  # only the first was consumed


def test_the_answer_is_the_first_unconsumed_result_at_the_end(ex, signals):
    keep(b"one", ex_dbid=ex.db_id)
    logs.save(ex, "the logs\n", None)
    signals.notify(ex.db_id)  # no result signal seen: the end says to look

    assert wait_for_answer(ex, signals, 5).body == b"one"


def test_the_answer_is_the_logs_when_the_execution_ends_without_a_result(ex, signals):
    logs.save(ex, "the logs\n", None)
    signals.notify(ex.db_id)

    answer = wait_for_answer(ex, signals, 5)

    assert (answer.body, answer.is_result) == (b"the logs\n", False)


def test_a_first_result_taken_by_another_reader_means_waiting_for_the_end(ex, signals):
    keep(b"one", ex_dbid=ex.db_id)
    signals.notify_result(ex.db_id)
    assert results.pop_next(ex.db_id) == b"one"  # a GET .../results took it
    logs.save(ex, "the logs\n", None)
    threading.Timer(0.3, signals.notify, args=(ex.db_id,)).start()

    assert wait_for_answer(ex, signals, 5).body == b"the logs\n"


def test_no_answer_in_time_is_a_504_naming_the_execution(ex, signals):
    with pytest.raises(WaitTimeout) as caught:
        wait_for_answer(ex, signals, 0.2)

    assert caught.value.http_status == 504 and ex.execution_id in caught.value.message


def test_wait_any_tells_a_result_from_the_end_and_leaves_the_end_for_others(signals, redis_client):
    signals.notify_result(EX)
    assert signals.wait_any(EX, 1) is Signal.RESULT
    assert redis_client.exists(signals.result_key_for(EX)) == 0  # taken: one reader answers with it
    signals.notify(EX)
    assert signals.wait_any(EX, 1) is Signal.DONE
    assert signals.wait_any(EX, 1) is Signal.DONE  # put back
    assert signals.wait_any("dev_A1_E9", 0.2, is_done=lambda: False) is None


def test_wait_any_notices_is_done_without_a_signal(signals):
    assert signals.wait_any(EX, 3, is_done=lambda: True, slice_seconds=0.1) is Signal.DONE


# -- the per-call timeout --------------------------------------------------------------------------


def test_the_timeout_is_the_servers_unless_lowered():
    assert sync_timeout_of(None, 120) == 120
    assert sync_timeout_of("2", 120) == 2.0
    assert sync_timeout_of(" 0.5 ", 120) == 0.5
    assert sync_timeout_of("120", 120) == 120


@pytest.mark.parametrize("given", ["0", "-1", "121", "nan", "inf", "", "two", "1e9"])
def test_a_timeout_that_is_not_a_number_of_seconds_up_to_the_servers_is_a_400(given):
    with pytest.raises(ValidationError, match="_abaco_sync_timeout") as caught:
        sync_timeout_of(given, 120)

    assert "at most 120" in caught.value.message


# -- configuration ----------------------------------------------------------------------------------


def test_the_result_and_sync_defaults():
    cfg = load_config(env={})
    assert (cfg.worker.max_results, cfg.worker.max_result_bytes, cfg.worker.socket_dir) == (1000, 64 << 20, "")
    assert (cfg.http.max_sync_waits, cfg.http.max_sync_waits_per_user) == (256, 200)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("WORKER__MAX_RESULTS", "0", "max_results"),
        ("WORKER__MAX_RESULT_BYTES", "0", "max_result_bytes"),
        ("WORKER__SOCKET_DIR", "/" + "d" * MAX_SOCKET_DIR, "socket_dir"),
        ("HTTP__MAX_SYNC_WAITS", str(MAX_SYNC_WAITS + 1), "max_sync_waits"),
        ("HTTP__SYNC_TIMEOUT", "0", "sync_timeout"),
        ("REDIS__MAX_CONNECTIONS", "200", "max_connections"),
    ],
)
def test_the_config_refuses_bad_bounds(key, value, match):
    with pytest.raises(ConfigError, match=match):
        load_config(env={f"ABACO__{key}": value})


def test_a_process_may_open_a_redis_connection_per_synchronous_wait():
    cfg = load_config(env={})
    client = connect_redis(cfg.redis)  # lazy: nothing is connected
    assert client.connection_pool.max_connections == cfg.redis.max_connections
    assert cfg.redis.max_connections >= cfg.http.threads + cfg.http.max_sync_waits


def test_nginx_waits_longer_than_any_synchronous_call():
    text = (ROOT / "etc" / "nginx.conf").read_text()
    read_timeout = int(re.search(r"proxy_read_timeout\s+(\d+)s;", text).group(1))
    assert read_timeout > load_config(env={}).http.sync_timeout
