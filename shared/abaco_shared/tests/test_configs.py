"""Actor configs: validation, encryption at rest, the actors they name, and their permissions."""

import json

import pytest
from cryptography.fernet import Fernet

from abaco_shared import actors, aliases, configs, permissions
from abaco_shared.auth import Principal
from abaco_shared.configs import ConfigCipher
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import ConfigError, NotFound, PermissionDenied, ValidationError
from abaco_shared.ids import new_id
from abaco_shared.lookup import get_config
from abaco_shared.models import ActorConfig
from abaco_shared.views import config_view
from abaco_shared.workflows.configs import (
    create_config,
    delete_config,
    parse_config_body,
    share_config,
    update_config,
)

ALICE = Principal("alice", "dev", (Role.USER,))
BOB = Principal("bob", "dev", (Role.USER,))
CIPHER = ConfigCipher(Fernet.generate_key())


def new_actor(owner="alice", tenant="dev"):
    actor = actors.create(tenant, owner, {"image": "abaco/echo:latest"})
    permissions.grant(tenant, actor.db_id, owner, Permission.UPDATE)
    return actor


def body(**fields):
    return parse_config_body({"name": "cfg", "value": {"k": 1}, "is_secret": False, **fields}, create=True)


# -- the cipher ---------------------------------------------------------------------------------
def test_a_secret_round_trips_and_is_not_stored_in_clear():
    stored = configs.encode_value({"password": "hunter2"}, True, CIPHER)
    assert "hunter2" not in stored
    assert json.loads(CIPHER.decrypt(stored)) == {"password": "hunter2"}
    assert configs.encode_value({"a": 1}, False, None) == '{"a": 1}'


def test_another_key_cannot_decrypt_and_a_secret_needs_a_key():
    stored = configs.encode_value("s", True, CIPHER)
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        ConfigCipher(Fernet.generate_key()).decrypt(stored)
    with pytest.raises(ConfigError, match="config_key_file"):
        configs.encode_value("s", True, None)


def test_the_key_file_is_read_and_a_missing_or_bad_one_is_handled(tmp_path):
    assert ConfigCipher.from_file(str(tmp_path / "none")) is None
    (tmp_path / "key").write_bytes(Fernet.generate_key() + b"\n")
    assert ConfigCipher.from_file(str(tmp_path / "key")) is not None
    (tmp_path / "bad").write_text("not a key")
    with pytest.raises(ConfigError, match="not a Fernet key"):
        ConfigCipher.from_file(str(tmp_path / "bad"))


def test_the_config_key_file_defaults_under_the_data_dir():
    from abaco_shared.config import load_config

    cfg = load_config(env={"ABACO__GENERAL__DATA_DIR": "/srv/abaco"})
    assert cfg.general.config_key_file == "/srv/abaco/secrets/config_key"


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, rule",
    [
        ("", "required"),
        (5, "required"),
        ("a b", "letters, digits"),
        ("a/b", "letters, digits"),
        ("a,b", "letters, digits"),
        ("x" * 65, "letters, digits"),
        ("..", "not only dots"),
        ("utilization", "reserved"),
        ("Executions", "reserved"),
        ("permissions", "reserved"),
    ],
)
def test_bad_names_are_refused_naming_the_rule(name, rule):
    with pytest.raises(ValidationError, match=f"Invalid name.*{rule}"):
        configs.check_name(name)


def test_a_name_may_have_dots_and_may_not_look_like_an_id():
    assert configs.check_name("my.config-1_a") == "my.config-1_a"
    with pytest.raises(ValidationError, match="looks like an actor id"):
        configs.check_name(new_id())


def test_actors_are_whole_comma_separated_items():
    assert configs.parse_actors(" a, b ,,a,c ") == ["a", "b", "c"]
    assert configs.parse_actors(["a", "b,c"]) == ["a", "b", "c"]
    for bad in ("", " , ", 5, None, {"a": 1}, ",".join(f"a{i}" for i in range(101))):
        with pytest.raises(ValidationError, match="Invalid actors"):
            configs.parse_actors(bad)


@pytest.mark.parametrize("given, expected", [(True, True), ("false", False), ("1", True), (0, False)])
def test_is_secret_takes_booleans_and_their_text(given, expected):
    assert configs.parse_is_secret(given) is expected


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"name": None}, "Invalid name"),
        ({"is_secret": "maybe"}, "Invalid is_secret"),
        ({"is_secret": None}, "Invalid is_secret"),
        ({"actors": 3}, "Invalid actors"),
        ({"colour": "blue"}, "Unknown field: colour"),
        ({"value": float("nan")}, None),
    ],
)
def test_a_bad_body_names_the_field(fields, fragment):
    raw = {"name": "cfg", "value": 1, "is_secret": False, "actors": "A", **fields}
    if fragment is None:  # nan passes parsing, refused when encoded
        with pytest.raises(ValidationError, match="Invalid value"):
            configs.encode_value(parse_config_body(raw, create=True).value, False, None)
        return
    with pytest.raises(ValidationError, match=fragment):
        parse_config_body(raw, create=True)


@pytest.mark.parametrize("missing", ["name", "value", "is_secret", "actors"])
def test_every_field_is_required_on_create(missing):
    raw = {"name": "cfg", "value": 1, "is_secret": False, "actors": "A"}
    del raw[missing]
    with pytest.raises(ValidationError, match=f"Invalid {missing}: the field {missing} is required"):
        parse_config_body(raw, create=True)
    assert parse_config_body({"isSecret": "true"}, create=False).is_secret is True


def test_a_value_over_the_limit_is_refused():
    with pytest.raises(ValidationError, match="Invalid value: its JSON is over"):
        configs.encode_value("x" * configs.MAX_VALUE_BYTES, False, None)


# -- workflows ----------------------------------------------------------------------------------
def test_create_needs_update_on_every_actor_and_grants_the_creator(mongo):
    mine, bobs = new_actor(), new_actor("bob")
    with pytest.raises(ValidationError, match=f"no actor found with identifier: {bobs.actor_id}"):
        create_config(ALICE, body(actors=f"{mine.actor_id},{bobs.actor_id}"), CIPHER)
    permissions.grant("dev", bobs.db_id, "alice", Permission.EXECUTE)
    with pytest.raises(PermissionDenied, match=f"UPDATE permission on actor {bobs.actor_id}"):
        create_config(ALICE, body(actors=f"{mine.actor_id},{bobs.actor_id}"), CIPHER)
    assert ActorConfig.objects.count() == 0
    permissions.grant("dev", bobs.db_id, "alice", Permission.UPDATE)

    config = create_config(ALICE, body(actors=f"{mine.actor_id},{bobs.actor_id}"), CIPHER)

    assert sorted(config.actor_ids) == sorted([mine.actor_id, bobs.actor_id])
    assert permissions.map_for("dev", "dev_config:cfg") == {"alice": "UPDATE"}
    with pytest.raises(ValidationError, match="already exists"):
        create_config(ALICE, body(actors=mine.actor_id), CIPHER)


def test_an_alias_is_resolved_to_its_actor(mongo):
    actor = new_actor()
    aliases.create("dev", "my.alias", actor.actor_id, "alice")
    config = create_config(ALICE, body(actors="my.alias"), CIPHER)
    assert config.items == ["my.alias"] and config.actor_ids == [actor.actor_id]
    assert config_view(config, "http://api")["actors"] == "my.alias"


def test_the_view_never_shows_a_secret_in_clear(mongo):
    actor = new_actor()
    config = create_config(ALICE, body(value="hunter2", is_secret=True, actors=actor.actor_id), CIPHER)
    shown = config_view(config, "http://api")
    assert shown["is_secret"] is True and "hunter2" not in json.dumps(shown)
    assert json.loads(CIPHER.decrypt(shown["value"])) == "hunter2", "the stored ciphertext is shown"
    assert "hunter2" not in json.dumps(ActorConfig.objects.get(db_id="dev_cfg").to_mongo().to_dict(), default=str)


def test_update_keeps_what_it_leaves_out_and_checks_the_actors(mongo):
    actor, other = new_actor(), new_actor("bob")
    config = create_config(ALICE, body(actors=actor.actor_id), CIPHER)

    update_config(ALICE, config, parse_config_body({"value": [1, 2]}, create=False), CIPHER)
    config = configs.get("dev", "cfg")
    assert (json.loads(config.value), config.is_secret, config.items) == ([1, 2], False, [actor.actor_id])

    update_config(ALICE, config, parse_config_body({"is_secret": True}, create=False), CIPHER)
    assert json.loads(CIPHER.decrypt(configs.get("dev", "cfg").value)) == [1, 2], "re-encrypted"
    with pytest.raises(ValidationError, match="give a new value"):
        update_config(ALICE, config, parse_config_body({"is_secret": False}, create=False), CIPHER)
    with pytest.raises(ValidationError, match="cannot be renamed"):
        update_config(ALICE, config, parse_config_body({"name": "other"}, create=False), CIPHER)
    with pytest.raises(ValidationError, match="no actor found"):
        update_config(ALICE, config, parse_config_body({"actors": other.actor_id}, create=False), CIPHER)
    update_config(ALICE, config, parse_config_body({"is_secret": "false", "value": "v"}, create=False), CIPHER)
    assert configs.get("dev", "cfg").value == '"v"'


def test_permissions_on_a_config_are_its_own(mongo):
    actor = new_actor()
    create_config(ALICE, body(actors=actor.actor_id), CIPHER)
    with pytest.raises(NotFound, match="No config found with name: cfg"):
        get_config(BOB, "cfg", Permission.READ)
    with pytest.raises(NotFound):
        get_config(Principal("alice", "other", (Role.USER,)), "cfg", Permission.READ)
    config = get_config(ALICE, "cfg", Permission.UPDATE)
    assert share_config(config, "bob", Permission.READ) == {"alice": "UPDATE", "bob": "READ"}
    assert get_config(BOB, "cfg", Permission.READ).name == "cfg"
    with pytest.raises(PermissionDenied):
        get_config(BOB, "cfg", Permission.UPDATE)
    with pytest.raises(ValidationError, match="owns the config"):
        share_config(config, "alice", Permission.READ)
    assert permissions.level_of(BOB, actor.db_id) == Permission.NONE, "a config grant is not an actor grant"
    assert get_config(Principal("root", "dev", (Role.ADMIN,)), "cfg", Permission.UPDATE).name == "cfg"

    delete_config(config)
    assert configs.get("dev", "cfg") is None and permissions.map_for("dev", "dev_config:cfg") == {}


# -- which configs an actor gets ----------------------------------------------------------------
def test_for_actor_matches_whole_items_by_id_and_alias(mongo):
    actor, other = new_actor(), new_actor()
    aliases.create("dev", "al", actor.actor_id, "alice")
    create_config(ALICE, body(name="by-id", actors=actor.actor_id), CIPHER)
    create_config(ALICE, body(name="by-alias", actors=f"al,{other.actor_id}"), CIPHER)
    create_config(ALICE, body(name="other", actors=other.actor_id), CIPHER)
    configs.create("dev", "substring", "alice", "1", False, [actor.actor_id + "x"], [actor.actor_id + "x"])
    configs.create("other", "tenant", "alice", "1", False, [actor.actor_id], [actor.actor_id])

    assert [c.name for c in configs.for_actor("dev", actor.actor_id)] == ["by-alias", "by-id"]
    assert [c.name for c in configs.for_actor("dev", other.actor_id)] == ["by-alias", "other"]
    assert configs.for_actor("empty", actor.actor_id) == []


def test_injected_values_decrypt_secrets(mongo):
    actor = new_actor()
    create_config(ALICE, body(name="plain", value={"a": [1]}, actors=actor.actor_id), CIPHER)
    create_config(ALICE, body(name="secret", value="s3", is_secret=True, actors=actor.actor_id), CIPHER)
    found = configs.for_actor("dev", actor.actor_id)
    assert configs.injected_values(found, CIPHER) == {"plain": {"a": [1]}, "secret": "s3"}
    with pytest.raises(ConfigError, match="no config key"):
        configs.injected_values(found, None)


def test_forget_actor_takes_its_id_and_aliases_out_of_configs(mongo):
    actor, other = new_actor(), new_actor()
    aliases.create("dev", "al", actor.actor_id, "alice")
    create_config(ALICE, body(actors=f"al,{actor.actor_id},{other.actor_id}"), CIPHER)

    assert configs.forget_actor("dev", actor.actor_id) == 1
    config = configs.get("dev", "cfg")
    assert (config.items, config.actor_ids) == ([other.actor_id], [other.actor_id])
    assert configs.for_actor("dev", actor.actor_id) == []


def test_delete_actor_takes_it_out_of_configs(mongo, broker):
    from abaco_shared.workflows.registration import delete_actor

    actor, other = new_actor(), new_actor()
    aliases.create("dev", "al", actor.actor_id, "alice")
    create_config(ALICE, body(actors=f"al,{other.actor_id}"), CIPHER)
    delete_actor(actor, broker)
    assert configs.get("dev", "cfg").items == [other.actor_id]


def test_list_pages_newest_first_within_what_the_caller_reads(mongo):
    actor = new_actor()
    for i in range(3):
        create_config(ALICE, body(name=f"c{i}", actors=actor.actor_id), CIPHER)
    assert [c.name for c in configs.list_for("dev", None, 2, 0)] == ["c2", "c1"]
    assert [c.name for c in configs.list_for("dev", None, 2, 2)] == ["c0"]
    assert [c.name for c in configs.list_for("dev", {"c0", "c2"}, 10, 0)] == ["c2", "c0"]
    assert (
        configs.count_for("dev") == 3
        and configs.count_for("dev", {"c1"}) == 1
        and configs.list_for("dev", None, 0, 0) == []
    )
