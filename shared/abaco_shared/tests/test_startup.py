"""What makes a worker's start shorter: its stores' connections opened beside its other steps
(``context.warm_up``), and no index checks at its first use of each collection
(``store.trust_indexes``)."""

import mongoengine
import pytest
import redis

from abaco_shared import readcache
from abaco_shared.config import load_config
from abaco_shared.context import Context, warm_up
from abaco_shared.models import Actor, Worker
from abaco_shared.store import DOCUMENTS, trust_indexes


class CountingRedis:
    def __init__(self, fail: bool = False) -> None:
        self.pings = 0
        self.fail = fail

    def ping(self) -> bool:
        self.pings += 1
        if self.fail:
            raise redis.exceptions.ConnectionError("refused")
        return True


@pytest.fixture
def cache_client():
    client = CountingRedis()
    readcache.install(readcache.ReadCache(client))  # type: ignore[arg-type]
    yield client
    readcache.uninstall()


def test_warm_up_pings_mongodb_and_both_redis_clients_in_its_own_thread(mongo, cache_client, monkeypatch):
    pinged = []
    monkeypatch.setattr(mongoengine, "get_db", lambda: type("Db", (), {"command": lambda self, c: pinged.append(c)})())
    ctx = Context(cfg=load_config(env={}), broker=None, redis=CountingRedis())  # type: ignore[arg-type]
    thread = warm_up(ctx)
    thread.join(5)
    assert not thread.is_alive() and thread.daemon
    assert pinged == ["ping"] and ctx.redis.pings == 1 and cache_client.pings == 1  # type: ignore[attr-defined]


def test_a_store_that_does_not_answer_is_left_for_its_first_use_to_report(cache_client, monkeypatch):
    import pymongo.errors

    def refuse(command: str) -> None:
        raise pymongo.errors.ServerSelectionTimeoutError("no server")

    monkeypatch.setattr(mongoengine, "get_db", lambda: type("Db", (), {"command": lambda self, c: refuse(c)})())
    ctx = Context(cfg=load_config(env={}), broker=None, redis=CountingRedis(fail=True))  # type: ignore[arg-type]
    thread = warm_up(ctx)
    thread.join(5)
    assert not thread.is_alive() and cache_client.pings == 1  # went on past both failures


@pytest.fixture
def restore_index_checks():
    before = {doc: doc._meta.get("auto_create_index", True) for doc in DOCUMENTS}
    yield
    for doc, value in before.items():
        doc._meta["auto_create_index"] = value


def test_trust_indexes_turns_off_the_index_check_of_every_collection(restore_index_checks):
    assert Actor in DOCUMENTS and Worker in DOCUMENTS
    trust_indexes()
    assert all(doc._meta["auto_create_index"] is False for doc in DOCUMENTS)


def test_documents_names_every_record_class():
    ours = {cls for cls in mongoengine.Document.__subclasses__() if cls.__module__.startswith("abaco_shared.")}
    ours -= {cls for cls in ours if ".tests." in cls.__module__}
    assert ours == set(DOCUMENTS)


@pytest.mark.parametrize(("serves_http", "expected"), [(True, 3.0), (False, 45.0)])
def test_an_api_waits_for_a_publish_confirm_at_most_its_store_timeout(serves_http, expected):
    from abaco_shared.context import build_context
    from abaco_shared.store import disconnect_mongo

    cfg = load_config(env={"ABACO__RABBIT__CONFIRM_TIMEOUT": "45", "ABACO__HTTP__STORE_TIMEOUT": "3"})
    ctx = build_context(cfg, serves_http=serves_http)  # connects nothing until first use
    try:
        assert ctx.broker.confirm_timeout == expected
    finally:
        readcache.uninstall()
        disconnect_mongo()
