"""The search grammar (reference 1.6) and the records it finds, on mongomock."""

import datetime as dt

import pytest

from abaco_shared import actors, executions, logs, permissions, search, workers
from abaco_shared.auth import NonceScope, Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import NotFound, ValidationError
from abaco_shared.models import Actor, Execution, Worker
from abaco_shared.workflows.search import list_page, search_records

ADMIN = Principal("root", "dev", frozenset({Role.ADMIN}))
ALICE = Principal("alice", "dev", frozenset({Role.USER}))
ACTORS = search.TYPES["actors"]
EXECS = search.TYPES["executions"]
API = "http://api"


def clauses(params, spec=ACTORS, who=ADMIN):
    """The query's clauses after the security one."""
    query = search.parse(spec, params, who)
    return query.filter["$and"][1:]


def one(param, value, spec=ACTORS):
    (clause,) = clauses([(param, value)], spec)
    return clause


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("name", "echo", {"name": {"$eq": "echo"}}),
        ("name", "none", {"name": {"$eq": None}}),
        ("name", "123", {"name": {"$eq": "123"}}),  # a text field keeps its text
        ("id", "abc", {"actor_id": {"$eq": "abc"}}),
        ("stateless", "false", {"stateless": {"$eq": False}}),
        ("stateless", "TRUE", {"stateless": {"$eq": True}}),
        ("revision", "2", {"revision": {"$eq": 2}}),
        ("revision.eq", "2", {"revision": {"$eq": 2}}),
        ("revision.neq", "2", {"revision": {"$ne": 2}}),
        ("revision.lt", "2", {"revision": {"$lt": 2}}),
        ("revision.lte", "2", {"revision": {"$lte": 2}}),
        ("revision.gt", "2", {"revision": {"$gt": 2}}),
        ("revision.gte", "-2", {"revision": {"$gte": -2}}),
        ("revision.in", "1,2", {"revision": {"$in": [1, 2]}}),
        ("revision.nin", "[1, 2, null]", {"revision": {"$nin": [1, 2, None]}}),
        ("status.in", '["READY", "ERROR"]', {"status": {"$in": ["READY", "ERROR"]}}),
        ("name.like", "^ec.o$", {"name": {"$regex": "^ec.o$"}}),
        ("name.nlike", "x|y", {"name": {"$not": {"$regex": "x|y"}}}),
        ("revision.between", "1,3", {"revision": {"$gte": 1, "$lte": 3}}),
        (
            "create_time.between",
            "2024-01-01,2024-02-01T00:00:00Z",
            {"create_time": {"$gte": dt.datetime(2024, 1, 1), "$lte": dt.datetime(2024, 2, 1)}},
        ),
        (
            "create_time.gt",
            "2024-05-01T14:45:41.591Z",
            {"create_time": {"$gt": dt.datetime(2024, 5, 1, 14, 45, 41, 591000)}},
        ),
        ("create_time", "2024-05-01T16:00:00+02:00", {"create_time": {"$eq": dt.datetime(2024, 5, 1, 14)}}),
        ("default_environment.FOO", "bar", {"default_environment.FOO": {"$eq": "bar"}}),
        ("default_environment.N", "5", {"default_environment.N": {"$eq": "5"}}),
        ("state.a.b.gt", "1.5", {"state.a.b": {"$gt": 1.5}}),
        ("hints", "sync", {"hints": {"$eq": "sync"}}),
    ],
)
def test_operators_and_coercion(param, value, expected):
    assert one(param, value) == expected


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        ("actor_id", "A1", {"actor_dbid": {"$eq": "dev_A1"}}),
        ("actor_id.in", "A1,A2", {"actor_dbid": {"$in": ["dev_A1", "dev_A2"]}}),
        ("actor_id.like", "^A", {"actor_dbid": {"$regex": "^dev_A"}}),
        ("runtime.between", "10,20", {"runtime": {"$gte": 10, "$lte": 20}}),
        ("params.colour", "blue", {"params.colour": {"$eq": "blue"}}),
        ("final_state.ExitCode.neq", "0", {"final_state.ExitCode": {"$ne": 0}}),
        ("message", "true", {"message": {"$eq": True}}),
        ("message", "hello", {"message": {"$eq": "hello"}}),
    ],
)
def test_execution_fields(param, value, expected):
    assert one(param, value, EXECS) == expected


def test_search_words_and_exactsearch_are_escaped_regexes():
    (words,) = clauses([("search", "a.b  (c")])
    patterns = {c[f]["$regex"] for c in words["$or"] for f in c}
    assert patterns == {r"a\.b", r"\(c"}
    assert all(c[f]["$options"] == "i" for c in words["$or"] for f in c)
    (exact,) = clauses([("exactsearch", " hello world ")])
    assert {c[f]["$regex"] for c in exact["$or"] for f in c} == {r"hello\ world"}
    assert clauses([("search", "   ")]) == []


def test_paging_and_ignored_params():
    query = search.parse(ACTORS, [("limit", "5"), ("skip", "10"), ("x-nonce", "dev_N1")], ADMIN)
    assert (query.limit, query.skip) == (5, 10)
    assert query.filter == {"$and": [{"tenant": "dev"}]}
    assert search.parse(ACTORS, [], ADMIN).limit == 100


def test_is_search():
    assert not search.is_search([("limit", "1"), ("skip", "2"), ("x-nonce", "n")])
    assert search.is_search([("limit", "1"), ("status", "READY")])


@pytest.mark.parametrize(
    ("param", "value", "named"),
    [
        ("nosuch", "x", "nosuch"),
        ("name[$ne]", "x", "name[$ne]"),
        ("$where", "1", "$where"),
        ("name.$ne", "x", "name.$ne"),
        ("default_environment.$gt", "x", "default_environment.$gt"),
        ("default_environment.a b", "x", "default_environment.a b"),
        ("default_environment.a.b.c.d.e.f", "x", "default_environment.a.b.c.d.e.f"),
        ("name.sub", "x", "name.sub"),
        ("default_environment", "x", "default_environment"),
        ("stateless", "maybe", "stateless"),
        ("revision", "two", "revision"),
        ("revision", "9" * 400, "revision"),
        ("revision.gt", "none", "revision.gt"),
        ("stateless.gt", "true", "stateless.gt"),
        ("create_time", "yesterday", "create_time"),
        ("revision.between", "1", "revision.between"),
        ("revision.between", "1,2,3", "revision.between"),
        ("revision.between", "1,none", "revision.between"),
        ("revision.in", '[{"$gt": 1}]', "revision.in"),
        ("revision.in", "[1,", "revision.in"),
        ("revision.in", ",".join(["1"] * 101), "revision.in"),
        ("revision.like", "1", "revision.like"),
        ("name.like", "(", "name.like"),
        ("name.like", "a" * 257, "name.like"),
        ("name", "a" * 5000, "name"),
        ("name", "a\x00b", "name"),
        ("limit", "-1", None),
        ("limit", "1001", None),
        ("skip", "x", None),
        ("skip", str(2**63), None),
        ("search", " ".join(["w"] * 21), "search"),
    ],
)
def test_errors_name_the_parameter(param, value, named):
    with pytest.raises(ValidationError) as err:
        search.parse(ACTORS, [(param, value)], ADMIN)
    if named is not None:
        assert repr(named)[:50] in err.value.message or named in err.value.message
    else:
        assert "limit" in err.value.message


def test_injection_values_are_plain_strings():
    assert one("name", '{"$ne": null}') == {"name": {"$eq": '{"$ne": null}'}}
    assert one("default_environment.K", '{"$gt": ""}') == {"default_environment.K": {"$eq": '{"$gt": ""}'}}
    assert one("name.in", '{"$ne": null}') == {"name": {"$in": ['{"$ne": null}']}}


def test_too_many_params():
    with pytest.raises(ValidationError, match="Too many"):
        search.parse(ACTORS, [("name", "x")] * 51, ADMIN)


def test_unknown_type_is_not_found():
    with pytest.raises(NotFound):
        search.search_type("secrets")


def test_security_filter():
    assert search.security_filter(ACTORS, ADMIN) == {"tenant": "dev"}
    scoped = Principal("root", "dev", frozenset({Role.ADMIN}), NonceScope("n", frozenset({"dev_A"}), Permission.READ))
    assert "_id" in search.security_filter(ACTORS, scoped)


# --- against records on mongomock -----------------------------------------------------------


def make_actor(tenant, owner, name, when, **fields):
    actor = actors.create(tenant, owner, {"image": "abaco/echo:latest", "name": name, **fields})
    Actor.objects(db_id=actor.db_id).update_one(set__create_time=when)
    permissions.grant(tenant, actor.db_id, owner, Permission.UPDATE)
    return actors.get(actor.db_id)


@pytest.fixture
def world(mongo):
    t0 = dt.datetime(2024, 5, 1)
    a1 = make_actor("dev", "alice", "first", t0, default_environment={"COLOUR": "blue"})
    a2 = make_actor("dev", "alice", "second", t0 + dt.timedelta(hours=1), stateless=False)
    b1 = make_actor("dev", "bob", "bobs", t0 + dt.timedelta(hours=2))
    o1 = make_actor("other", "alice", "elsewhere", t0 + dt.timedelta(hours=3))
    for actor in (a1, b1, o1):
        for n in range(3):
            ex = executions.submit(actor, f"E{actor.actor_id}{n}", "alice", "str", f"msg {n}", {"n": str(n)})
            Execution.objects(db_id=ex.db_id).update_one(
                set__runtime=100 * n, set__message_received_time=t0 + dt.timedelta(minutes=n)
            )
            logs.save(executions.get_by_key(ex.db_id), f"output {n} of {actor.name}", None)
        workers.create_requested(actor, f"W{actor.actor_id}")
    return {"a1": a1, "a2": a2, "b1": b1, "o1": o1}


def names(result):
    return [r["name"] for r in result["search"]]


def test_actor_search_is_tenant_and_permission_filtered(world):
    assert names(search_records(ALICE, "actors", [], API)) == ["second", "first"]
    assert names(search_records(ADMIN, "actors", [], API)) == ["bobs", "second", "first"]
    permissions.grant("dev", world["b1"].db_id, permissions.WORLD, Permission.READ)
    assert names(search_records(ALICE, "actors", [], API)) == ["bobs", "second", "first"]
    permissions.grant("dev", world["b1"].db_id, permissions.WORLD, Permission.NONE)
    assert names(search_records(ALICE, "actors", [("name", "bobs")], API)) == []
    assert names(search_records(ALICE, "actors", [("name", "elsewhere")], API)) == []


def test_actor_search_operators_on_records(world):
    assert names(search_records(ALICE, "actors", [("stateless", "false")], API)) == ["second"]
    assert names(search_records(ALICE, "actors", [("default_environment.COLOUR", "blue")], API)) == ["first"]
    assert names(search_records(ALICE, "actors", [("search", "SEC")], API)) == ["second"]
    assert names(search_records(ALICE, "actors", [("exactsearch", "irs")], API)) == ["first"]
    assert names(search_records(ALICE, "actors", [("name.nlike", "^f")], API)) == ["second"]
    between = [("create_time.between", "2024-05-01T00:30:00Z,2024-05-01T05:00:00Z")]
    assert names(search_records(ALICE, "actors", between, API)) == ["second"]
    assert names(search_records(ALICE, "actors", [("name", '{"$ne": null}')], API)) == []


def test_metadata_and_paging(world):
    found = search_records(ADMIN, "actors", [("limit", "2"), ("skip", "1"), ("image", "abaco/echo:latest")], API)
    assert found["_metadata"] == {"total_count": 3, "records_skipped": 1, "record_limit": 2, "count_returned": 2}
    assert names(found) == ["second", "first"]
    record = found["search"][0]
    assert {"tenant", "db_id", "_id", "worker_claim"}.isdisjoint(record) and "_links" in record
    total, page = list_page(ADMIN, "actors", 1, 0, API)
    assert (total, [a["name"] for a in page]) == (3, ["bobs"])
    assert list_page(ADMIN, "actors", 0, 0, API) == (3, [])


def test_execution_worker_and_log_search(world):
    a1 = world["a1"]
    found = search_records(ALICE, "executions", [("runtime.gte", "100")], API)
    assert [e["id"] for e in found["search"]] == [f"E{a1.actor_id}2", f"E{a1.actor_id}1"]
    assert found["search"][0]["actor_id"] == a1.actor_id and "tenant" not in found["search"][0]
    scoped = search_records(ADMIN, "executions", [("params.n", "1")], API, {"actor_dbid": world["b1"].db_id})
    assert [e["id"] for e in scoped["search"]] == [f"E{world['b1'].actor_id}1"]
    assert search_records(ALICE, "executions", [("actor_id", world["b1"].actor_id)], API)["search"] == []
    found = search_records(ALICE, "workers", [("actor_id", a1.actor_id)], API)
    assert [w["id"] for w in found["search"]] == [f"W{a1.actor_id}"]
    assert search_records(ALICE, "workers", [("tenant", "other")], API)["search"] == []
    found = search_records(ALICE, "logs", [("search", "OUTPUT 2")], API)
    assert {r["logs"] for r in found["search"]} == {"output 2 of first", "output 0 of first", "output 1 of first"}
    found = search_records(ALICE, "logs", [("logs.like", "^output 2")], API)
    assert [r["logs"] for r in found["search"]] == ["output 2 of first"]
    assert found["search"][0]["_links"]["execution"].endswith(f"{a1.actor_id}/executions/E{a1.actor_id}2")


def test_executions_of_a_deleted_actor_still_render_for_admins(world):
    actors.delete(world["b1"].db_id)
    found = search_records(ADMIN, "executions", [("executor", "alice")], API)
    assert found["_metadata"]["total_count"] == 6
    assert {e["actor_id"] for e in found["search"]} == {world["a1"].actor_id, world["b1"].actor_id}


def test_stable_order_for_ties(mongo):
    t0 = dt.datetime(2024, 5, 1)
    made = [make_actor("dev", "alice", f"n{i}", t0) for i in range(5)]
    pages = [list_page(ALICE, "actors", 2, skip, API)[1] for skip in (0, 2, 4)]
    ids = [a["id"] for page in pages for a in page]
    assert sorted(ids) == sorted(a.actor_id for a in made) and len(set(ids)) == 5
    assert ids == sorted(ids, reverse=True)


def test_worker_records_untouched_by_search(world):
    before = Worker.objects.count()
    search_records(ADMIN, "workers", [("status.in", "REQUESTED,READY")], API)
    assert Worker.objects.count() == before
