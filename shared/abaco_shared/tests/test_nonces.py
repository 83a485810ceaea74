"""Nonce records: validation, redemption arithmetic, and the scope of a nonce's caller."""

from __future__ import annotations

import threading

import pytest

from abaco_shared import aliases, nonces, permissions
from abaco_shared.auth import NonceScope, Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import AuthenticationError, PermissionDenied, ValidationError
from abaco_shared.ids import is_id, new_id
from abaco_shared.models import Nonce

ALICE = Principal("alice", "dev", frozenset({Role.USER}))
ACTOR_ID = new_id()
ACTOR_KEY = f"dev_{ACTOR_ID}"
OTHER_KEY = f"dev_{new_id()}"


@pytest.fixture
def owned(mongo):
    permissions.grant("dev", ACTOR_KEY, "alice", Permission.UPDATE)
    permissions.grant("dev", OTHER_KEY, "alice", Permission.UPDATE)


def make(level=Permission.EXECUTE, max_uses=-1, who=ALICE):
    return nonces.create(who, nonces.ACTOR, ACTOR_ID, ACTOR_KEY, nonces.NonceRequest(level, max_uses, "d"))


# -- validation ---------------------------------------------------------------------------------


def test_an_empty_request_takes_the_defaults():
    assert nonces.parse_request({}, nonces.ACTOR) == nonces.NonceRequest(Permission.EXECUTE, -1, "")


def test_a_request_is_parsed_from_json_or_form_values():
    got = nonces.parse_request({"level": "read", "max_uses": "5", "description": "x"}, nonces.ACTOR)
    assert got == nonces.NonceRequest(Permission.READ, 5, "x")
    assert nonces.parse_request({"maxUses": 2}, nonces.ACTOR).max_uses == 2


@pytest.mark.parametrize(
    "body, kind, field",
    [
        ({"max_uses": 0}, nonces.ACTOR, "max_uses"),
        ({"max_uses": -2}, nonces.ACTOR, "max_uses"),
        ({"max_uses": "many"}, nonces.ACTOR, "max_uses"),
        ({"max_uses": True}, nonces.ACTOR, "max_uses"),
        ({"max_uses": 1.5}, nonces.ACTOR, "max_uses"),
        ({"max_uses": 2**40}, nonces.ACTOR, "max_uses"),
        ({"level": "ADMIN"}, nonces.ACTOR, "level"),
        ({"level": 3}, nonces.ACTOR, "level"),
        ({"level": "UPDATE"}, nonces.ALIAS, "level"),
        ({"description": 5}, nonces.ACTOR, "description"),
        ({"description": "x" * 5000}, nonces.ACTOR, "description"),
        ({"colour": "blue"}, nonces.ACTOR, "colour"),
    ],
)
def test_bad_requests_name_the_field(body, kind, field):
    with pytest.raises(ValidationError, match=field):
        nonces.parse_request(body, kind)


def test_the_tenant_comes_from_the_id():
    hashid = new_id()
    assert nonces.tenant_of(f"Dev-1_{hashid}") == "dev-1"
    # one character more than the id: never the check character the longer body would need
    extra = next(c for c in "xyz" if not is_id(hashid + c))
    for bad in ("", "dev", f"_{hashid}", "dev_notanid", f"d$v_{hashid}", f"dev_{hashid}{extra}"):
        assert nonces.tenant_of(bad) is None


# -- records and redemption -----------------------------------------------------------------------


def test_a_new_nonce_is_stored_with_the_creators_roles_and_no_use(owned):
    admin = Principal("root", "dev", frozenset({Role.ADMIN, Role.USER}))
    record = make(max_uses=3, who=admin)
    assert record.db_id.startswith("dev_") and nonces.tenant_of(record.db_id) == "dev"
    stored = Nonce.objects.get(db_id=record.db_id)
    assert (stored.owner, stored.roles, stored.level) == ("root", ["admin", "user"], "EXECUTE")
    assert (stored.max_uses, stored.remaining_uses, stored.current_uses, stored.last_use_time) == (3, 3, 0, None)


def test_a_limited_nonce_is_redeemed_exactly_max_uses_times(owned):
    record = make(max_uses=2)
    assert nonces.redeem(record) and nonces.redeem(record)
    assert not nonces.redeem(record)
    stored = Nonce.objects.get(db_id=record.db_id)
    assert (stored.current_uses, stored.remaining_uses) == (2, 0)
    assert stored.last_use_time is not None


def test_an_unlimited_nonce_counts_uses_and_keeps_minus_one(owned):
    record = make()
    for _ in range(3):
        assert nonces.redeem(record)
    stored = Nonce.objects.get(db_id=record.db_id)
    assert (stored.current_uses, stored.remaining_uses) == (3, -1)


def test_concurrent_redemptions_never_exceed_max_uses(owned):
    record = make(max_uses=5)
    results: list[bool] = []
    lock = threading.Lock()

    def use():
        ok = nonces.redeem(record)
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=use) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 5
    assert Nonce.objects.get(db_id=record.db_id).current_uses == 5


def test_list_get_and_delete_are_per_object(owned):
    first, second = make(), make()
    other = nonces.create(ALICE, nonces.ACTOR, "x", OTHER_KEY, nonces.NonceRequest())
    assert [n.db_id for n in nonces.list_for("dev", ACTOR_KEY, 10, 0)] == sorted(
        [first.db_id, second.db_id], key=lambda i: (Nonce.objects.get(db_id=i).create_time, i), reverse=True
    )
    assert nonces.count_for("dev", ACTOR_KEY) == 2
    assert nonces.list_for("dev", ACTOR_KEY, 0, 0) == []
    assert nonces.get("dev", ACTOR_KEY, other.db_id) is None
    assert nonces.get("other", ACTOR_KEY, first.db_id) is None
    assert nonces.delete(first) and not nonces.delete(first)
    assert nonces.delete_for_object("dev", ACTOR_KEY) == 1
    assert nonces.find(other.db_id) is not None


# -- the scope of a nonce's caller ---------------------------------------------------------------


def test_a_scoped_caller_has_at_most_the_nonce_level_on_its_objects_only(owned):
    scoped = Principal("alice", "dev", ALICE.roles, NonceScope("n", frozenset({ACTOR_KEY}), Permission.READ))
    assert permissions.level_of(ALICE, OTHER_KEY) is Permission.UPDATE
    assert permissions.level_of(scoped, ACTOR_KEY) is Permission.READ
    assert permissions.level_of(scoped, OTHER_KEY) is Permission.NONE
    assert permissions.readable_objects(scoped) == {ACTOR_KEY}
    with pytest.raises(PermissionDenied):
        permissions.require(scoped, ACTOR_KEY, Permission.EXECUTE)


def test_a_scope_never_raises_the_owners_own_level(mongo):
    permissions.grant("dev", ACTOR_KEY, "bob", Permission.READ)
    bob = Principal("bob", "dev", frozenset({Role.USER}), NonceScope("n", frozenset({ACTOR_KEY}), Permission.UPDATE))
    assert permissions.level_of(bob, ACTOR_KEY) is Permission.READ


@pytest.mark.parametrize(
    "method, path, level",
    [
        ("GET", "/actors/x", Permission.READ),
        ("HEAD", "/actors/x/messages", Permission.READ),
        ("POST", "/actors/x/messages", Permission.EXECUTE),
        ("POST", "/actors/x/messages/", Permission.EXECUTE),
        ("DELETE", "/actors/x/messages", Permission.UPDATE),
        ("PUT", "/actors/x", Permission.UPDATE),
        ("POST", "/actors/x/state", Permission.UPDATE),
    ],
)
def test_the_level_a_request_needs(method, path, level):
    assert nonces.required_level(method, path) is level


@pytest.mark.parametrize(
    "path, key",
    [
        ("/actors/abc/messages", "dev_abc"),
        ("/actors/abc", "dev_abc"),
        ("/actors/aliases/my.alias", "dev_my.alias"),
        ("/actors/aliases/my.alias/nonces", None),  # nonces are managed with a token
        ("/actors/aliases/my.alias/nonces/dev_x", None),
        ("/actors/abc/nonces", None),
        ("/actors/abc/nonces/dev_x", None),
        ("/actors/aliases", None),
        ("/actors/search/actors", None),
        ("/actors/configs/c", None),
        ("/actors/admin", None),
        ("/actors/utilization", None),
        ("/actors", None),
        ("/other/abc", None),
    ],
)
def test_the_object_a_path_names(path, key):
    assert nonces.target_key("dev", path) == key


def test_authorize_redeems_and_scopes_the_owner(owned):
    record = make(max_uses=1)
    who = nonces.authorize(record.db_id, "POST", f"/actors/{ACTOR_ID}/messages")
    assert (who.user, who.tenant, who.roles) == ("alice", "dev", frozenset({Role.USER}))
    assert who.scope == NonceScope(record.db_id, frozenset({ACTOR_KEY}), Permission.EXECUTE)
    with pytest.raises(AuthenticationError, match="no remaining uses"):
        nonces.authorize(record.db_id, "POST", f"/actors/{ACTOR_ID}/messages")


@pytest.mark.parametrize(
    "nonce_id, method, path, error",
    [
        ("dev_nothere", "GET", "/actors/{actor}", AuthenticationError),
        ("{nonce}", "GET", "/actors/search/actors", AuthenticationError),
        ("{nonce}", "GET", "/actors", AuthenticationError),
        ("{nonce}", "GET", "/actors/someoneelse", PermissionDenied),
        ("{nonce}", "POST", "/actors/{actor}/messages", PermissionDenied),  # a READ nonce
        ("{nonce}", "DELETE", "/actors/{actor}", PermissionDenied),
    ],
)
def test_authorize_refuses_without_redeeming(owned, nonce_id, method, path, error):
    record = make(level=Permission.READ, max_uses=1)
    with pytest.raises(error):
        nonces.authorize(nonce_id.format(nonce=record.db_id), method, path.format(actor=ACTOR_ID))
    assert Nonce.objects.get(db_id=record.db_id).current_uses == 0


def test_a_nonce_fails_once_its_owner_loses_the_level(owned):
    record = make(level=Permission.EXECUTE)
    permissions.grant("dev", ACTOR_KEY, "alice", Permission.READ)
    with pytest.raises(PermissionDenied):
        nonces.authorize(record.db_id, "POST", f"/actors/{ACTOR_ID}/messages")


def test_an_alias_nonce_also_covers_the_actor_its_alias_names(owned):
    alias = aliases.create("dev", "my.alias", ACTOR_ID, "alice")
    permissions.grant("dev", alias.db_id, "alice", Permission.UPDATE)
    record = nonces.create(ALICE, nonces.ALIAS, "my.alias", alias.db_id, nonces.NonceRequest())
    who = nonces.authorize(record.db_id, "POST", "/actors/my.alias/messages")
    assert who.scope is not None and who.scope.objects == {alias.db_id, ACTOR_KEY}
    assert permissions.level_of(who, ACTOR_KEY) is Permission.EXECUTE
    with pytest.raises(PermissionDenied):  # an alias nonce is for the alias's paths, not the actor's
        nonces.authorize(record.db_id, "POST", f"/actors/{ACTOR_ID}/messages")
