import pytest

from abaco_shared.config import load_config
from abaco_shared.errors import ConfigError


def test_defaults_need_no_file(tmp_path):
    cfg = load_config(env={"ABACO_HOME": str(tmp_path)})
    assert cfg.http.registration_port == 5001
    assert cfg.general.data_dir == str(tmp_path / ".data")
    assert cfg.auth.jwt_secret_file == str(tmp_path / ".data" / "jwt_secret")
    assert cfg.worker.network == "host"


def test_file_then_env_precedence(tmp_path):
    path = tmp_path / "abaco.toml"
    path.write_text('[http]\nthreads = 4\nregistration_port = 6001\n[spawner]\nhost_queues = ["default", "special"]\n')
    cfg = load_config(str(path), env={"ABACO__HTTP__THREADS": "12", "ABACO__WORKER__LEAVE_CONTAINERS": "true"})
    assert cfg.http.threads == 12
    assert cfg.http.registration_port == 6001
    assert cfg.spawner.host_queues == ("default", "special")
    assert cfg.worker.leave_containers is True


def test_env_tuple_is_comma_separated():
    cfg = load_config(env={"ABACO__SPAWNER__HOST_QUEUES": "default, special"})
    assert cfg.spawner.host_queues == ("default", "special")


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"ABACO__NOPE__X": "1"}, "unknown config section [nope]"),
        ({"ABACO__HTTP__NOPE": "1"}, "unknown config key http.nope"),
        ({"ABACO__HTTP__THREADS": "many"}, "http.threads: expected int"),
        ({"ABACO__WORKER__LEAVE_CONTAINERS": "perhaps"}, "expected bool"),
        ({"ABACO__HTTPTHREADS": "1"}, "expected ABACO__<SECTION>__<KEY>"),
        ({"ABACO__SPAWNER__PULL_POLICY": "sometimes"}, "pull_policy"),
    ],
)
def test_bad_values_fail_with_one_readable_error(env, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(env=env)
    assert fragment in str(err.value)


def test_bad_toml_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[http\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(path), env={})


def test_secrets_hidden_from_repr():
    cfg = load_config(env={"ABACO__RABBIT__URL": "amqp://u:s3cret@localhost//"})
    assert "s3cret" not in repr(cfg)
    assert cfg.rabbit.url.startswith("amqp://u:s3cret")


def test_printed_config_is_toml_without_secrets(tmp_path):
    import tomllib

    from abaco_shared.admin_cli import config_toml

    cfg = load_config(env={"ABACO_HOME": str(tmp_path), "ABACO__REDIS__URL": "redis://:pw123@host/0"})
    text = config_toml(cfg)
    assert "pw123" not in text
    parsed = tomllib.loads(text)
    assert parsed["spawner"]["host_queues"] == ["default"]
    path = tmp_path / "again.toml"
    path.write_text(text)
    assert load_config(str(path), env={}).http == cfg.http


def test_store_passwords_come_from_files_under_the_data_dir(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "mongo_password").write_text("m0ngo\n")
    (secrets / "rabbit_password").write_text("r@bbit/")
    cfg = load_config(env={"ABACO__GENERAL__DATA_DIR": str(tmp_path)})
    assert cfg.mongo.password == "m0ngo" and cfg.mongo.password_file == str(secrets / "mongo_password")
    assert cfg.redis.password == ""  # no file: no password
    assert cfg.rabbit.broker_url() == "amqp://abaco:r%40bbit%2F@127.0.0.1:5672/abaco"
    assert "m0ngo" not in repr(cfg) and "r@bbit" not in repr(cfg)


def test_an_explicit_password_or_url_credentials_win(tmp_path):
    env = {"ABACO__GENERAL__DATA_DIR": str(tmp_path), "ABACO__RABBIT__PASSWORD": "given"}
    assert load_config(env=env).rabbit.broker_url() == "amqp://abaco:given@127.0.0.1:5672/abaco"
    env["ABACO__RABBIT__URL"] = "amqp://ops:theirs@broker:5672/v"
    assert load_config(env=env).rabbit.broker_url() == "amqp://ops:theirs@broker:5672/v"


def test_the_deployments_queues_default_to_this_hosts_and_may_name_more():
    one_host = load_config(env={"ABACO__SPAWNER__HOST_QUEUES": "special"})
    assert one_host.spawner.queues == ("special",)
    many = load_config(env={"ABACO__SPAWNER__QUEUES": "default,special"})
    assert (many.spawner.host_queues, many.spawner.queues) == (("default",), ("default", "special"))
