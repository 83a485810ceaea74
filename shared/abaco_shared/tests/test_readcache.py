"""The read cache (``abaco_shared.readcache``) and ``lookup.get_actor`` through it: a cached value
is used only under the version it was read with, so every write is seen by the next read."""

import pytest
import redis.exceptions

from abaco_shared import actors, lookup, permissions, readcache
from abaco_shared.auth import Principal
from abaco_shared.enums import ActorStatus, Permission, Role
from abaco_shared.errors import NotFound
from abaco_shared.testing import fake_redis

pytestmark = pytest.mark.usefixtures("mongo")

ALICE = Principal(user="alice", tenant="dev", roles=frozenset({Role.USER}))
BOB = Principal(user="bob", tenant="dev", roles=frozenset({Role.USER}))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DownRedis:
    """A Redis client whose every call fails, as when the server is unreachable."""

    calls = 0

    def get(self, key, *args, **kwargs):
        self.calls += 1
        raise redis.exceptions.ConnectionError("refused")

    set = get


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    c = readcache.ReadCache(fake_redis(), clock=clock)
    readcache.install(c)
    yield c
    readcache.uninstall()


def make_actor(owner="alice"):
    actor = actors.create("dev", owner, {"image": "abaco/echo:latest"})
    permissions.grant("dev", actor.db_id, owner, Permission.UPDATE)
    return actor


def test_a_second_lookup_reads_nothing_from_mongodb(cache):
    actor = make_actor()
    assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ).db_id == actor.db_id
    misses = cache.misses
    again = lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    assert again.db_id == actor.db_id and again.image == "abaco/echo:latest"
    assert cache.misses == misses and cache.hits == 2  # the actor and alice's level


def test_a_write_anywhere_is_seen_by_the_next_lookup(cache):
    actor = make_actor()
    lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    actors.set_status(actor.db_id, ActorStatus.READY)  # e.g. by the spawner, in another process
    assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ).status == ActorStatus.READY.value
    actors.delete(actor.db_id)
    with pytest.raises(NotFound):
        lookup.get_actor(ALICE, actor.actor_id, Permission.READ)


def status_of(actor):  # a render for read_actor: one long-lived function
    return (actor.status, actor.image)


def test_read_actor_keeps_its_rendering_under_the_version(cache):
    actor = make_actor()
    rendered = []

    def render(found):
        rendered.append(found.db_id)
        return status_of(found)

    assert lookup.read_actor(ALICE, actor.actor_id, Permission.READ, render) == ("SUBMITTED", "abaco/echo:latest")
    assert lookup.read_actor(ALICE, actor.actor_id, Permission.READ, render)[0] == "SUBMITTED"
    assert rendered == [actor.db_id]  # the second read neither decoded nor rendered the actor
    actors.set_status(actor.db_id, ActorStatus.READY)
    assert lookup.read_actor(ALICE, actor.actor_id, Permission.READ, render)[0] == "READY"
    assert len(rendered) == 2
    with pytest.raises(NotFound):  # the caller's level is checked on every read
        lookup.read_actor(BOB, actor.actor_id, Permission.READ, render)
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert lookup.read_actor(BOB, actor.actor_id, Permission.READ, render)[0] == "READY"
    permissions.revoke_all("dev", actor.db_id)
    with pytest.raises(NotFound):
        lookup.read_actor(BOB, actor.actor_id, Permission.READ, render)


def test_get_actor_shared_hands_out_one_object_until_the_actor_changes(cache):
    actor = make_actor()
    first = lookup.get_actor_shared(ALICE, actor.actor_id, Permission.READ)
    assert lookup.get_actor_shared(ALICE, actor.actor_id, Permission.READ) is first
    assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ) is not first  # an own copy
    actors.set_status(actor.db_id, ActorStatus.READY)
    again = lookup.get_actor_shared(ALICE, actor.actor_id, Permission.READ)
    assert again is not first and again.status == ActorStatus.READY.value
    with pytest.raises(NotFound):
        lookup.get_actor_shared(BOB, actor.actor_id, Permission.READ)


def test_read_actor_without_a_cache_renders_every_time():
    actor = make_actor()
    assert lookup.read_actor(ALICE, actor.actor_id, Permission.READ, status_of)[1] == "abaco/echo:latest"
    with pytest.raises(NotFound):
        lookup.read_actor(ALICE, "NoSuchActor123", Permission.READ, status_of)


def test_a_grant_and_a_revocation_are_seen_at_once(cache):
    actor = make_actor()
    with pytest.raises(NotFound):
        lookup.get_actor(BOB, actor.actor_id, Permission.READ)
    permissions.grant("dev", actor.db_id, "bob", Permission.READ)
    assert lookup.get_actor(BOB, actor.actor_id, Permission.READ).db_id == actor.db_id
    lookup.get_actor(BOB, actor.actor_id, Permission.READ)
    permissions.revoke_all("dev", actor.db_id)
    with pytest.raises(NotFound):
        lookup.get_actor(BOB, actor.actor_id, Permission.READ)


def test_a_value_read_while_a_write_lands_is_not_used_after_it(cache):
    actor = make_actor()
    lookup.get_actor(ALICE, actor.actor_id, Permission.READ)  # the actor has a version now
    version = cache.version(actor.db_id)
    cache._entries.clear()  # this process has not read it yet

    def load_then_written_meanwhile():
        stale = actors.find_raw("dev", actor.actor_id)
        actors.set_status(actor.db_id, ActorStatus.ERROR, "boom")  # lands after our read
        return stale

    cache.get(version, ("actor", actor.db_id), load_then_written_meanwhile)
    assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ).status == ActorStatus.ERROR.value


def test_a_lost_version_never_matches_again(cache):
    actor = make_actor()
    lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    cache.client.flushall()  # Redis restarted without its data
    actors.set_status(actor.db_id, ActorStatus.READY)
    cache.client.flushall()  # ... and lost the bump too
    assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ).status == ActorStatus.READY.value


def test_ids_that_name_nothing_leave_no_keys(cache):
    with pytest.raises(NotFound):
        lookup.get_actor(ALICE, "NoSuchActor123", Permission.READ)
    assert cache.client.keys("*") == []


def test_values_expire_after_max_age(cache, clock):
    actor = make_actor()
    lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    clock.now += cache.max_age + 1
    misses = cache.misses
    lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    assert cache.misses == misses + 2


def test_every_lookup_gets_its_own_actor_object(cache):
    actor = make_actor()
    first = lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    first.default_environment["X"] = "changed"
    first.status = "CHANGED"
    second = lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
    assert second.default_environment == {} and second.status != "CHANGED"


def test_without_redis_reads_go_to_mongodb_and_redis_is_left_alone_for_a_while(clock):
    down = DownRedis()
    c = readcache.ReadCache(down, clock=clock)  # type: ignore[arg-type]
    readcache.install(c)
    try:
        actor = make_actor()  # its bumps fail: logged, not raised
        for _ in range(3):
            assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ).db_id == actor.db_id
        assert c.hits == 0
        calls = down.calls
        lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
        assert down.calls == calls  # within retry_after: not asked again
        clock.now += c.retry_after + 0.1
        lookup.get_actor(ALICE, actor.actor_id, Permission.READ)
        assert down.calls == calls + 1
    finally:
        readcache.uninstall()


def test_without_a_cache_bump_does_nothing_and_lookups_still_work():
    actor = make_actor()
    readcache.bump(actor.db_id)
    assert lookup.get_actor(ALICE, actor.actor_id, Permission.READ).db_id == actor.db_id


def test_a_worker_that_stops_taking_messages_is_seen_by_the_next_has_pending(cache):
    from abaco_shared import workers
    from abaco_shared.enums import WorkerStatus

    actor = make_actor()
    assert not workers.has_pending_cached(actor.db_id)  # a False answer is never kept
    worker = workers.create_requested(actor, "w1")
    assert workers.has_pending_cached(actor.db_id)
    hits = cache.hits
    assert workers.has_pending_cached(actor.db_id) and cache.hits == hits + 1
    workers.set_status(worker.db_id, WorkerStatus.READY)  # still pending: nothing to invalidate
    assert workers.has_pending_cached(actor.db_id)
    workers.set_status(worker.db_id, WorkerStatus.SHUTDOWN_REQUESTED)
    assert not workers.has_pending_cached(actor.db_id)
    other = workers.create_requested(actor, "w2")
    assert workers.has_pending_cached(actor.db_id)
    workers.delete(other.db_id)
    assert not workers.has_pending_cached(actor.db_id)
    assert workers.actor_of(other.db_id) == actor.db_id


def test_get_current_is_exact_and_cached(cache):
    actor = make_actor()
    assert actors.get_current(actor.db_id).revision == actor.revision
    hits = cache.hits
    assert actors.get_current(actor.db_id).db_id == actor.db_id and cache.hits == hits + 1
    actors.apply_update(actors.get(actor.db_id), {"image": "abaco/other:latest"}, force=False)
    fresh = actors.get_current(actor.db_id)
    assert fresh.image == "abaco/other:latest" and fresh.revision == actor.revision + 1
    actors.delete(actor.db_id)
    assert actors.get_current(actor.db_id) is None


def test_get_current_shared_is_one_object_per_version(cache):
    actor = make_actor()
    first = actors.get_current_shared(actor.db_id)
    assert first.revision == actor.revision and actors.get_current_shared(actor.db_id) is first
    assert actors.get_current(actor.db_id) is not first  # get_current gives an own copy
    actors.apply_update(actors.get(actor.db_id), {"image": "abaco/other:latest"}, force=False)
    fresh = actors.get_current_shared(actor.db_id)
    assert fresh is not first and fresh.image == "abaco/other:latest" and fresh.revision == actor.revision + 1
    actors.delete(actor.db_id)
    assert actors.get_current_shared(actor.db_id) is None
    readcache.uninstall()  # without a cache: read every time
    assert actors.get_current_shared(fresh.db_id) is None


def test_an_actors_configs_are_cached_until_the_tenants_configs_change(cache):
    from abaco_shared import configs

    actor = make_actor()
    assert configs.for_actor_cached("dev", actor.actor_id) == []
    hits = cache.hits
    assert configs.for_actor_cached("dev", actor.actor_id) == [] and cache.hits == hits + 1
    made = configs.create("dev", "db", "alice", "v1", False, [actor.actor_id], [actor.actor_id])
    assert [c.name for c in configs.for_actor_cached("dev", actor.actor_id)] == ["db"]
    configs.save(made, "v2", False, None)
    assert [c.value for c in configs.for_actor_cached("dev", actor.actor_id)] == ["v2"]
    configs.forget_actor("dev", actor.actor_id)
    assert configs.for_actor_cached("dev", actor.actor_id) == []
    configs.delete(made)
    assert configs.for_actor_cached("dev", actor.actor_id) == []


def test_a_worker_watches_the_versions_it_reads_at_every_message(cache):
    from abaco_shared import configs
    from abaco_shared.config import Config
    from abaco_shared.context import WORKER_IDLE_RESET, watch_versions

    watch_versions(Config(), "dev_a1", configs.version_key("dev"))
    watch = cache.watch
    assert watch.prefixes == (cache.prefix + "dev_a1", cache.prefix + "configs:dev")
    assert watch.idle_reset == WORKER_IDLE_RESET
    watch_versions(Config(), "dev_b2")  # one watch per process
    assert cache.watch is watch
    assert watch.lookup(cache.prefix + "dev_b2") == (None, None)  # not among its keys
