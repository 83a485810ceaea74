"""Alias records, their validation, alias resolution in lookup.get_actor, and the alias workflows."""

import threading

import pytest

from abaco_shared import actors, aliases, ids, permissions
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import NotFound, PermissionDenied, ValidationError
from abaco_shared.lookup import get_actor, get_alias
from abaco_shared.models import Alias, PermissionRecord
from abaco_shared.testing import memory_broker
from abaco_shared.workflows.aliases import create_alias, delete_alias, rebind_alias, share_alias
from abaco_shared.workflows.registration import delete_actor

IMAGE = "abaco/echo:latest"


def user(name="alice", tenant="dev", role=Role.USER):
    return Principal(user=name, tenant=tenant, roles=frozenset({role}))


def new_actor(owner="alice", tenant="dev"):
    actor = actors.create(tenant, owner, {"image": IMAGE})
    permissions.grant(tenant, actor.db_id, owner, Permission.UPDATE)
    return actor


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias", ["hello", "my.alias", "a", "x" * 64, "under_score-dash~tilde", "v1.2.3", "Mixed.Case", "...a"]
)
def test_valid_aliases(alias):
    assert aliases.validate(alias) == alias


@pytest.mark.parametrize(
    "alias, rule",
    [
        (None, "required"),
        ("", "required"),
        (12, "required"),
        ("x" * 65, "at most 64"),
        ("has space", "forbidden characters (space)"),
        ("a/b", "forbidden characters (/)"),
        ("a%2Fb", "forbidden characters (%)"),
        ("tab\there", "printable ASCII"),
        ("nul\x00", "printable ASCII"),
        ("café", "printable ASCII"),
        ("..", "dots only"),
        (".", "dots only"),
        ("messages", "reserved word"),
        ("Admin", "reserved word"),
        ("aliases", "reserved word"),
        ("v2", "reserved word"),
        ("search", "reserved word"),
    ]
    + [(f"a{c}b", "forbidden characters") for c in "\\\":?#[]@!$&'()*+,;="],
)
def test_invalid_aliases_name_the_rule(alias, rule):
    with pytest.raises(ValidationError, match="Invalid alias") as info:
        aliases.validate(alias)
    assert rule in str(info.value)


def test_every_reserved_word_is_refused():
    for word in ("executions", "nonces", "logs", "messages", "adapters", "admin", "aliases", "configs", "search"):
        with pytest.raises(ValidationError, match="reserved"):
            aliases.validate(word)
    for word in ("utilization", "permissions", "state", "workers", "v2", "docs"):
        with pytest.raises(ValidationError, match="reserved"):
            aliases.validate(word.upper())


def test_an_alias_may_never_look_like_an_id():
    with pytest.raises(ValidationError, match="form of an actor id"):
        aliases.validate(ids.new_id())


# -- records ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("mongo")
class TestRecords:
    def test_create_and_get(self):
        record = aliases.create("dev", "my.alias", "A1", "alice")
        assert (record.db_id, record.alias, record.actor_id, record.owner) == (
            "dev_my.alias",
            "my.alias",
            "A1",
            "alice",
        )
        assert aliases.get("dev", "my.alias").actor_id == "A1"
        assert aliases.get("other", "my.alias") is None
        assert aliases.get("dev", "") is None

    def test_a_duplicate_in_the_tenant_is_a_400_but_another_tenant_may_reuse_it(self):
        aliases.create("dev", "dup", "A1", "alice")
        with pytest.raises(ValidationError, match="already exists"):
            aliases.create("dev", "dup", "A2", "bob")
        aliases.create("other", "dup", "A9", "carol")
        assert aliases.get("dev", "dup").actor_id == "A1"

    def test_create_validates(self):
        with pytest.raises(ValidationError):
            aliases.create("dev", "bad alias", "A1", "alice")
        assert Alias.objects.count() == 0

    def test_concurrent_creation_has_exactly_one_winner(self):
        results: list[str] = []

        def attempt(i):
            try:
                aliases.create("dev", "race", f"A{i}", "alice")
                results.append("ok")
            except ValidationError:
                results.append("dup")

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["dup"] * 19 + ["ok"]

    def test_for_actor_list_count_rebind_and_delete(self):
        for name in ("a1", "a2", "a3"):
            aliases.create("dev", name, "A1", "alice")
        aliases.create("dev", "b1", "B1", "alice")
        assert [a.alias for a in aliases.for_actor("dev", "A1")] == ["a1", "a2", "a3"]
        assert aliases.count_for_tenant("dev") == 4
        assert aliases.count_for_tenant("dev", only={"dev_a1", "dev_b1"}) == 2
        page = aliases.list_for_tenant("dev", limit=2, skip=1)
        assert len(page) == 2
        assert aliases.list_for_tenant("dev", limit=0, skip=0) == []

        record = aliases.get("dev", "a1")
        assert aliases.rebind(record, "B1") and aliases.get("dev", "a1").actor_id == "B1"
        permissions.grant("dev", "dev_a2", "alice", Permission.UPDATE)
        assert aliases.delete_for_actor("dev", "A1") == 2
        assert PermissionRecord.objects(object_id="dev_a2").count() == 0
        assert sorted(a.alias for a in Alias.objects) == ["a1", "b1"]
        assert aliases.delete(aliases.get("dev", "b1"))
        assert aliases.delete(record) and not aliases.delete(record)
        assert not aliases.rebind(record, "C1")


def test_list_is_newest_first(mongo):
    import datetime as dt

    for i, name in enumerate(("old", "mid", "new")):
        Alias(
            db_id=f"dev_{name}",
            alias=name,
            actor_id="A",
            tenant="dev",
            owner="o",
            create_time=dt.datetime(2024, 1, 1 + i),
        ).save()
    assert [a.alias for a in aliases.list_for_tenant("dev", 10, 0)] == ["new", "mid", "old"]
    assert [a.alias for a in aliases.list_for_tenant("dev", 1, 1)] == ["mid"]


# -- lookup -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("mongo")
class TestLookup:
    def test_get_actor_resolves_an_alias_of_the_callers_tenant(self):
        actor = new_actor()
        aliases.create("dev", "echo.v1", actor.actor_id, "alice")
        assert get_actor(user(), "echo.v1", Permission.UPDATE).db_id == actor.db_id
        assert get_actor(user(), actor.actor_id, Permission.UPDATE).db_id == actor.db_id

    def test_an_unknown_alias_is_the_actor_404(self):
        with pytest.raises(NotFound, match="No actor found with identifier: nope."):
            get_actor(user(), "nope", Permission.READ)

    def test_another_tenants_alias_is_404(self):
        actor = new_actor(tenant="other")
        aliases.create("other", "theirs", actor.actor_id, "alice")
        with pytest.raises(NotFound):
            get_actor(user(tenant="dev"), "theirs", Permission.READ)

    def test_the_level_checked_is_the_one_on_the_actor(self):
        actor = new_actor()
        record = aliases.create("dev", "shared", actor.actor_id, "alice")
        permissions.grant("dev", record.db_id, "bob", Permission.UPDATE)  # on the alias only
        with pytest.raises(NotFound):
            get_actor(user("bob"), "shared", Permission.READ)
        permissions.grant("dev", actor.db_id, "bob", Permission.READ)
        assert get_actor(user("bob"), "shared", Permission.READ).db_id == actor.db_id
        with pytest.raises(PermissionDenied):
            get_actor(user("bob"), "shared", Permission.EXECUTE)

    def test_an_alias_of_a_deleted_actor_is_404(self):
        aliases.create("dev", "dangling", "Gone", "alice")
        with pytest.raises(NotFound):
            get_actor(user(), "dangling", Permission.READ)

    def test_get_alias_checks_the_alias_grants(self):
        actor = new_actor()
        record = create_alias(user(), "mine", actor)
        assert get_alias(user(), "mine", Permission.UPDATE).db_id == record.db_id
        with pytest.raises(NotFound, match="No alias found with identifier: mine."):
            get_alias(user("bob"), "mine", Permission.READ)
        permissions.grant("dev", record.db_id, "bob", Permission.READ)
        assert get_alias(user("bob"), "mine", Permission.READ).alias == "mine"
        with pytest.raises(PermissionDenied):
            get_alias(user("bob"), "mine", Permission.UPDATE)
        assert get_alias(user("root", role=Role.ADMIN), "mine", Permission.UPDATE).alias == "mine"
        with pytest.raises(NotFound):
            get_alias(user(), "missing", Permission.READ)


# -- workflows --------------------------------------------------------------------------------


@pytest.mark.usefixtures("mongo")
class TestWorkflows:
    def test_create_grants_the_creator_update_on_the_alias(self):
        actor = new_actor()
        record = create_alias(user(), "named", actor)
        assert permissions.map_for("dev", record.db_id) == {"alice": "UPDATE"}

    def test_create_undoes_the_alias_when_the_grant_fails(self, monkeypatch):
        actor = new_actor()

        def boom(*args, **kwargs):
            raise RuntimeError("store down")

        monkeypatch.setattr(permissions, "grant", boom)
        with pytest.raises(RuntimeError):
            create_alias(user(), "named", actor)
        assert aliases.get("dev", "named") is None

    def test_rebind_and_delete(self):
        first, second = new_actor(), new_actor()
        record = create_alias(user(), "moving", first)
        assert rebind_alias(record, second).actor_id == second.actor_id
        assert aliases.get("dev", "moving").actor_id == second.actor_id
        delete_alias(record)
        assert aliases.get("dev", "moving") is None
        assert permissions.map_for("dev", record.db_id) == {}
        with pytest.raises(NotFound):
            rebind_alias(record, first)
        delete_alias(record)  # idempotent

    def test_share_alias_keeps_the_owner(self):
        record = create_alias(user(), "shared", new_actor())
        assert share_alias(record, "bob", Permission.READ) == {"alice": "UPDATE", "bob": "READ"}
        with pytest.raises(ValidationError, match="owns the alias"):
            share_alias(record, "alice", Permission.READ)

    def test_deleting_the_actor_deletes_its_aliases_and_their_grants(self):
        actor, other = new_actor(), new_actor()
        for name in ("one", "two"):
            create_alias(user(), name, actor)
        create_alias(user(), "three", other)
        broker = memory_broker()
        try:
            delete_actor(actor, broker)
        finally:
            broker.close()
        assert [a.alias for a in Alias.objects] == ["three"]
        assert PermissionRecord.objects(object_id__in=["dev_one", "dev_two"]).count() == 0


def test_deleting_an_alias_deletes_its_nonces_only(mongo):
    from abaco_shared.models import Nonce

    for nonce_id, key in (("dev_N1", "dev_gone"), ("dev_N2", "dev_kept")):
        Nonce(db_id=nonce_id, tenant="dev", object_key=key, kind="alias", name=key[4:], owner="o", level="READ").save()
    aliases.create("dev", "kept", "A1", "o")
    aliases.delete(aliases.create("dev", "gone", "A1", "o"))
    assert [n.db_id for n in Nonce.objects] == ["dev_N2"]
    assert aliases.delete_for_actor("dev", "A1") == 1
    assert Nonce.objects.count() == 0
