"""The version watch (``abaco_shared.versionwatch``) against the stack's Redis: a version read once
is not read again until it changes, and a change made by any other client is seen by the very
next use, also right after the watch's connection is lost."""

from __future__ import annotations

import os
import secrets
import threading
import time

import pytest

from abaco_shared.config import load_config
from abaco_shared.readcache import ReadCache
from abaco_shared.store import connect_redis
from abaco_shared.versionwatch import VersionWatch

from .conftest import ROOT


@pytest.fixture(scope="module")
def cfg():
    return load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})


@pytest.fixture
def writer(cfg):
    client = connect_redis(cfg.redis)
    yield client
    client.close()


class CountingRedis:
    """The cache's client, counting its GETs (the round trips the watch saves)."""

    def __init__(self, client) -> None:
        self.client = client
        self.gets = 0

    def get(self, key):
        self.gets += 1
        return self.client.get(key)

    def set(self, *args, **kwargs):
        return self.client.set(*args, **kwargs)


@pytest.fixture
def watched(cfg):
    prefix = f"abaco-test-{secrets.token_hex(4)}:"
    client = CountingRedis(connect_redis(cfg.redis))
    cache = ReadCache(client, prefix=prefix)
    cache.watch = VersionWatch(cfg.redis.url, cache.prefix, username=cfg.redis.user, password=cfg.redis.password)
    yield cache, client
    cache.watch.close()


def bump(cache, writer, key: str) -> str:
    """What another process's write does: a new token for ``key``."""
    token = secrets.token_hex(8)
    writer.set(cache.prefix + key, token, ex=60)
    return token


def test_an_unchanged_version_is_read_once(watched, writer):
    cache, client = watched
    token = bump(cache, writer, "actor-1")
    assert [cache.version("actor-1").token for _ in range(50)] == [token] * 50
    assert client.gets == 1


def test_every_change_is_seen_by_the_next_use(watched, writer):
    cache, client = watched
    cache.version("actor-2")
    for _ in range(300):  # a write, then at once a read: never the old token
        token = bump(cache, writer, "actor-2")
        assert cache.version("actor-2").token == token
    bump(cache, writer, "other")  # a change of another key costs this one nothing
    before = client.gets
    cache.version("actor-2")
    assert client.gets == before


def test_a_change_during_the_read_is_not_remembered(watched, writer):
    cache, client = watched
    watch = cache.watch
    bump(cache, writer, "actor-3")
    _, seq = watch.lookup(cache.prefix + "actor-3")
    old = writer.get(cache.prefix + "actor-3")  # the read...
    new = bump(cache, writer, "actor-3")  # ...and a write that lands before it is remembered
    time.sleep(0.05)
    watch.remember(cache.prefix + "actor-3", old, seq)
    assert cache.version("actor-3").token == new


def test_a_lost_connection_forgets_every_token(watched, writer):
    cache, client = watched
    bump(cache, writer, "actor-4")
    cache.version("actor-4")
    # Redis drops the watch's connection (a restart, a kill), and a write lands meanwhile
    writer.execute_command("CLIENT", "KILL", "ID", cache.watch.client_id)
    new = bump(cache, writer, "actor-4")
    assert cache.version("actor-4").token == new
    time.sleep(cache.watch.retry_after + 0.1)  # reconnected after retry_after: saving again
    cache.version("actor-4")
    before = client.gets
    assert cache.version("actor-4").token == new and client.gets == before


def test_threads_share_one_watch(watched, writer):
    cache, _ = watched
    token = bump(cache, writer, "actor-5")
    seen: list[str | None] = []

    def read() -> None:
        seen.extend(cache.version("actor-5").token for _ in range(200))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [token] * 1600
