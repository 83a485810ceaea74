"""Actor configs in the container's environment: ``_actor_configs`` (a Python repr, as the
original's) and ``_actor_configs_json``, with secrets decrypted, for the actors they name."""

import ast
import json

import pytest
from cryptography.fernet import Fernet

from abaco_shared import actors, aliases, configs, executions, permissions
from abaco_shared.auth import Principal
from abaco_shared.configs import ConfigCipher
from abaco_shared.enums import ExecutionStatus, Permission, Role
from abaco_shared.envvars import MAX_VALUE
from abaco_shared.messages import MailboxMessage
from abaco_shared.models import Actor
from abaco_shared.retry import Disposition
from abaco_shared.workflows.configs import create_config, parse_config_body
from abaco_worker.environment import container_env
from abaco_worker.tests.test_execution_runner import build_rig

pytestmark = pytest.mark.usefixtures("mongo")

ALICE = Principal("alice", "dev", (Role.USER,))
CIPHER = ConfigCipher(Fernet.generate_key())


def add_config(name, value, actors_field, is_secret=False):
    body = {"name": name, "value": value, "is_secret": is_secret, "actors": actors_field}
    return create_config(ALICE, parse_config_body(body, create=True), CIPHER)


def granted(actor: Actor) -> Actor:
    permissions.grant("dev", actor.db_id, "alice", Permission.UPDATE)
    return actor


@pytest.fixture
def rig(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path, docker, redis_client)
    rig.runner.config_cipher = CIPHER
    granted(rig.actor)
    return rig


def run_env(rig, ex_id="E1"):
    assert rig.handle(rig.submit(ex_id)) is Disposition.ACK
    return rig.docker.specs[-1].environment


def test_configs_naming_the_actor_by_id_or_alias_are_injected_with_secrets_in_clear(rig):
    aliases.create("dev", "my.alias", rig.actor.actor_id, "alice")
    other = granted(actors.create("dev", "alice", {"image": "abaco/echo:latest"}))
    add_config("db", {"host": "h", "port": 5432, "ok": True, "none": None}, rig.actor.actor_id)
    add_config("token", "s3cret", f"{other.actor_id},my.alias", is_secret=True)
    add_config("elsewhere", 1, other.actor_id)

    env = run_env(rig)

    expected = {"db": {"host": "h", "port": 5432, "ok": True, "none": None}, "token": "s3cret"}
    assert ast.literal_eval(env["_actor_configs"]) == expected, "a Python repr, as the original's"
    assert json.loads(env["_actor_configs_json"]) == expected, "and exact JSON"


def test_an_actor_without_configs_gets_an_empty_dict(rig):
    env = run_env(rig)
    assert env["_actor_configs"] == "{}" and env["_actor_configs_json"] == "{}"


def test_a_secret_without_the_key_ends_the_execution_saying_why(rig):
    add_config("token", "s3cret", rig.actor.actor_id, is_secret=True)
    rig.runner.config_cipher = None
    assert rig.handle(rig.submit()) is Disposition.ACK
    ex = rig.ex()
    assert ex.status == ExecutionStatus.ERROR and "configs cannot be given" in ex.status_message
    assert rig.docker.specs == [], "no container ran"


def test_configs_too_big_for_the_environment_end_the_execution(rig):
    for i in range(MAX_VALUE // configs.MAX_VALUE_BYTES + 1):
        add_config(f"big{i}", "x" * (configs.MAX_VALUE_BYTES - 10), rig.actor.actor_id)
    rig.handle(rig.submit())
    assert "_actor_configs" in rig.ex().status_message and rig.docker.specs == []


def test_a_config_updated_between_executions_is_seen_by_the_next_one(rig):
    add_config("n", 1, rig.actor.actor_id)
    assert json.loads(run_env(rig, "E1")["_actor_configs_json"]) == {"n": 1}
    config = configs.get("dev", "n")
    configs.save(config, "2", False, None)
    assert json.loads(run_env(rig, "E2")["_actor_configs_json"]) == {"n": 2}
    assert executions.get(rig.actor.db_id, "E2").status == ExecutionStatus.COMPLETE


def test_container_env_sets_the_variables_only_when_given():
    actor = Actor(db_id="dev_A1", actor_id="A1", tenant="dev", owner="alice", image="i", state={})
    msg = MailboxMessage(execution_id="E1", content_type="str", message="hi")
    assert "_actor_configs" not in container_env(actor, msg, "W1", "http://api")
    env = container_env(actor, msg, "W1", "http://api", actor_configs={"a": "b"})
    assert (env["_actor_configs"], env["_actor_configs_json"]) == ("{'a': 'b'}", '{"a": "b"}')
