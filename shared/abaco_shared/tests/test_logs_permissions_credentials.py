"""Execution logs, permission records and worker credentials."""

import datetime as dt
import hashlib

import pytest

from abaco_shared import credentials, logs, permissions
from abaco_shared.auth import Principal
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import PermissionDenied
from abaco_shared.models import Execution, Log, PermissionRecord

P = Permission
WORLD = permissions.WORLD


def user(name="bob", tenant="dev", *roles):
    return Principal(user=name, tenant=tenant, roles=frozenset(roles or (Role.USER,)))


def admin(name="root", tenant="dev"):
    return Principal(user=name, tenant=tenant, roles=frozenset({Role.ADMIN}))


def execution(actor_dbid="dev_A", ex_id="E1"):
    return Execution(db_id=f"{actor_dbid}_{ex_id}", execution_id=ex_id, actor_dbid=actor_dbid, tenant="dev")


def now():
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# logs


@pytest.mark.usefixtures("mongo")
class TestLogs:
    def test_save_and_text_of(self):
        ex = execution()
        logs.save(ex, "hello\n", ttl=None)
        assert logs.text_of(ex.db_id) == "hello\n"
        rec = Log.objects(db_id=ex.db_id).first()
        assert (rec.actor_dbid, rec.tenant, rec.execution_id) == ("dev_A", "dev", "E1")

    def test_save_replaces_an_earlier_copy(self):
        ex = execution()
        logs.save(ex, "first", ttl=60)
        logs.save(ex, "second", ttl=None)
        assert logs.text_of(ex.db_id) == "second"
        assert Log.objects(db_id=ex.db_id).count() == 1
        assert Log.objects(db_id=ex.db_id).first().exp is None

    def test_ttl_sets_the_expiry(self):
        ex = execution()
        before = now()
        logs.save(ex, "x", ttl=3600)
        exp = Log.objects(db_id=ex.db_id).first().exp
        assert before + dt.timedelta(seconds=3599) <= exp <= now() + dt.timedelta(seconds=3600)

    def test_mongodb_expires_logs_by_exp(self):
        Log.ensure_indexes()
        ttl = [i for i in Log._get_collection().index_information().values() if i["key"] == [("exp", 1)]]
        assert [i.get("expireAfterSeconds") for i in ttl] == [0]

    @pytest.mark.parametrize("ttl", [None, 0])
    def test_no_ttl_means_no_expiry(self, ttl):
        ex = execution()
        logs.save(ex, "x", ttl=ttl)
        assert Log.objects(db_id=ex.db_id).first().exp is None

    def test_text_of_missing_is_empty(self):
        assert logs.text_of("dev_A_nope") == ""

    def test_empty_logs_are_kept_as_empty(self):
        ex = execution()
        logs.save(ex, "", ttl=None)
        assert logs.text_of(ex.db_id) == ""
        assert Log.objects(db_id=ex.db_id).count() == 1

    def test_delete_for_actor_deletes_only_that_actor(self):
        for ex in (execution("dev_A", "E1"), execution("dev_A", "E2"), execution("dev_B", "E3")):
            logs.save(ex, ex.execution_id, ttl=None)
        assert logs.delete_for_actor("dev_A") == 2
        assert logs.text_of("dev_A_E1") == logs.text_of("dev_A_E2") == ""
        assert logs.text_of("dev_B_E3") == "E3"
        assert logs.delete_for_actor("dev_A") == 0


# permissions


@pytest.mark.usefixtures("mongo")
class TestPermissions:
    def test_grant_is_an_upsert(self):
        permissions.grant("dev", "dev_A", "bob", P.READ)
        permissions.grant("dev", "dev_A", "bob", P.UPDATE)
        recs = PermissionRecord.objects(tenant="dev", object_id="dev_A", user="bob")
        assert recs.count() == 1
        assert recs.first().level == "UPDATE"
        assert permissions.level_of(user("bob"), "dev_A") == P.UPDATE

    def test_grant_can_lower_a_level(self):
        permissions.grant("dev", "dev_A", "bob", P.UPDATE)
        permissions.grant("dev", "dev_A", "bob", P.READ)
        assert permissions.level_of(user("bob"), "dev_A") == P.READ

    def test_no_grant_is_none(self):
        permissions.grant("dev", "dev_A", "alice", P.UPDATE)
        permissions.grant("dev", "dev_B", "bob", P.UPDATE)
        assert permissions.level_of(user("bob"), "dev_A") == P.NONE

    def test_admin_has_update_in_their_own_tenant(self):
        assert permissions.level_of(admin(), "dev_A") == P.UPDATE

    @pytest.mark.parametrize("who", [user("bob", "dev"), admin("root", "dev")], ids=["user", "admin"])
    @pytest.mark.parametrize("object_id", ["other_A", "dev-x_A", "devA", "de_A"])
    def test_another_tenants_object_is_none_even_with_a_grant(self, who, object_id):
        permissions.grant("dev", object_id, who.user, P.UPDATE)
        permissions.grant("dev", object_id, WORLD, P.UPDATE)
        assert permissions.level_of(who, object_id) == P.NONE

    def test_grants_of_another_tenant_do_not_count(self):
        permissions.grant("other", "dev_A", "bob", P.UPDATE)
        assert permissions.level_of(user("bob", "dev"), "dev_A") == P.NONE

    def test_world_grant_applies_to_everyone_in_the_tenant(self):
        permissions.grant("dev", "dev_A", WORLD, P.EXECUTE)
        assert permissions.level_of(user("anyone"), "dev_A") == P.EXECUTE
        assert permissions.level_of(user("anyone", "other"), "dev_A") == P.NONE

    @pytest.mark.parametrize(
        "mine, world, expected",
        [
            (P.READ, P.EXECUTE, P.EXECUTE),
            (P.UPDATE, P.READ, P.UPDATE),
            (P.NONE, P.READ, P.READ),
            (P.EXECUTE, P.NONE, P.EXECUTE),
        ],
    )
    def test_level_is_the_max_of_user_and_world(self, mine, world, expected):
        permissions.grant("dev", "dev_A", "bob", mine)
        permissions.grant("dev", "dev_A", WORLD, world)
        assert permissions.level_of(user("bob"), "dev_A") == expected

    def test_readable_objects_are_read_and_above(self):
        permissions.grant("dev", "dev_NONE", "bob", P.NONE)
        permissions.grant("dev", "dev_READ", "bob", P.READ)
        permissions.grant("dev", "dev_EXEC", "bob", P.EXECUTE)
        permissions.grant("dev", "dev_UPD", "bob", P.UPDATE)
        permissions.grant("dev", "dev_PUB", WORLD, P.READ)
        permissions.grant("dev", "dev_HIDDEN", WORLD, P.NONE)
        permissions.grant("dev", "dev_ALICE", "alice", P.UPDATE)
        permissions.grant("other", "other_X", "bob", P.UPDATE)
        assert permissions.readable_objects(user("bob")) == {"dev_READ", "dev_EXEC", "dev_UPD", "dev_PUB"}

    def test_readable_objects_of_a_user_without_grants(self):
        assert permissions.readable_objects(user("nobody")) == set()

    @pytest.mark.parametrize("level", [P.READ, P.EXECUTE, P.UPDATE])
    def test_require_returns_the_level_when_enough(self, level):
        permissions.grant("dev", "dev_A", "bob", P.UPDATE)
        assert permissions.require(user("bob"), "dev_A", level) == P.UPDATE

    @pytest.mark.parametrize("have, needed", [(None, P.READ), (P.READ, P.EXECUTE), (P.EXECUTE, P.UPDATE)])
    def test_require_raises_naming_the_needed_level(self, have, needed):
        if have is not None:
            permissions.grant("dev", "dev_A", "bob", have)
        with pytest.raises(PermissionDenied, match=f"you need {needed.name} permission") as info:
            permissions.require(user("bob"), "dev_A", needed)
        assert info.value.http_status == 403

    def test_revoke_all_removes_every_grant_on_that_object_only(self):
        permissions.grant("dev", "dev_A", "bob", P.UPDATE)
        permissions.grant("dev", "dev_A", WORLD, P.READ)
        permissions.grant("dev", "dev_B", "bob", P.READ)
        assert permissions.revoke_all("dev", "dev_A") == 2
        assert permissions.level_of(user("bob"), "dev_A") == P.NONE
        assert permissions.level_of(user("bob"), "dev_B") == P.READ
        assert permissions.revoke_all("dev", "dev_A") == 0


# credentials


class TestCredentials:
    def test_key_and_client_id_formats(self):
        assert credentials.key_for("abaco:", "dev", "W1") == "abaco:client:dev:W1"
        assert credentials.client_id_for("dev", "W1") == "dev_W1"

    def test_record_then_lookup(self, redis_client):
        client_id, secret = credentials.record(redis_client, "p:", "dev", "W1", "dev_A")
        assert client_id == "dev_W1" and len(secret) >= 40
        assert redis_client.exists("p:client:dev:W1")
        stored = credentials.lookup(redis_client, "p:", "dev", "W1")
        assert stored == {
            "client_id": "dev_W1",
            "actor_dbid": "dev_A",
            "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(),
        }
        assert secret not in str(redis_client.hgetall("p:client:dev:W1"))  # only its hash is kept

    def test_lookup_is_per_tenant_worker_and_prefix(self, redis_client):
        credentials.record(redis_client, "p:", "dev", "W1", "dev_A")
        assert credentials.lookup(redis_client, "p:", "dev", "W2") == {}
        assert credentials.lookup(redis_client, "p:", "other", "W1") == {}
        assert credentials.lookup(redis_client, "q:", "dev", "W1") == {}

    def test_record_again_overwrites_and_gives_a_new_secret(self, redis_client):
        _, first = credentials.record(redis_client, "p:", "dev", "W1", "dev_A")
        _, second = credentials.record(redis_client, "p:", "dev", "W1", "dev_B")
        assert first != second
        assert credentials.lookup(redis_client, "p:", "dev", "W1")["actor_dbid"] == "dev_B"
        assert credentials.verify(redis_client, "p:", "dev", "W1", "dev_W1", first) is None
        assert credentials.verify(redis_client, "p:", "dev", "W1", "dev_W1", second) == "dev_B"

    def test_verify_needs_the_right_client_id_and_secret(self, redis_client):
        client_id, secret = credentials.record(redis_client, "p:", "dev", "W1", "dev_A")
        assert credentials.verify(redis_client, "p:", "dev", "W1", client_id, secret) == "dev_A"
        assert credentials.verify(redis_client, "p:", "dev", "W1", client_id, secret + "x") is None
        assert credentials.verify(redis_client, "p:", "dev", "W1", client_id, "") is None
        assert credentials.verify(redis_client, "p:", "dev", "W1", "dev_W2", secret) is None
        assert credentials.verify(redis_client, "p:", "dev", "W2", client_id, secret) is None
        assert credentials.verify(redis_client, "p:", "other", "W1", client_id, secret) is None

    def test_forget_revokes(self, redis_client):
        client_id, secret = credentials.record(redis_client, "p:", "dev", "W1", "dev_A")
        credentials.record(redis_client, "p:", "dev", "W2", "dev_A")
        assert credentials.forget(redis_client, "p:", "dev", "W1") is True
        assert credentials.lookup(redis_client, "p:", "dev", "W1") == {}
        assert credentials.verify(redis_client, "p:", "dev", "W1", client_id, secret) is None
        assert credentials.lookup(redis_client, "p:", "dev", "W2") != {}
        assert credentials.forget(redis_client, "p:", "dev", "W1") is False  # forgetting twice is fine
