"""load_config beyond the basics: the [host] section, worker retries, value parsing, derived paths, printing."""

import hashlib
import os
import tomllib

import pytest

from abaco_shared import admin_cli
from abaco_shared.admin_cli import config_toml
from abaco_shared.config import HostConfig, WorkerConfig, load_config, with_credentials
from abaco_shared.errors import ConfigError


@pytest.fixture
def home(tmp_path):
    return {"ABACO_HOME": str(tmp_path)}


def write_toml(tmp_path, text, name="abaco.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- [host] --------------------------------------------------------------------------------------


def test_host_defaults(home):
    assert load_config(env=home).host == HostConfig(
        host_id="local", host_ip="127.0.0.1", docker_url="unix:///var/run/docker.sock"
    )


def test_host_id_from_the_environment(home):
    cfg = load_config(env={**home, "ABACO__HOST__HOST_ID": "compute-07"})
    assert cfg.host.host_id == "compute-07"
    assert cfg.host.host_ip == "127.0.0.1"  # the other keys keep their defaults


def test_host_from_a_toml_file_and_env_wins(tmp_path, home):
    path = write_toml(tmp_path, '[host]\nhost_id = "h1"\nhost_ip = "10.0.0.5"\ndocker_url = "tcp://10.0.0.5:2375"\n')
    cfg = load_config(path, env=home)
    assert cfg.host == HostConfig(host_id="h1", host_ip="10.0.0.5", docker_url="tcp://10.0.0.5:2375")
    cfg = load_config(path, env={**home, "ABACO__HOST__HOST_IP": "10.0.0.6"})
    assert (cfg.host.host_id, cfg.host.host_ip) == ("h1", "10.0.0.6")


def test_the_file_can_be_named_by_abaco_config(tmp_path, home):
    path = write_toml(tmp_path, '[host]\nhost_id = "from-env-path"\n')
    assert load_config(env={**home, "ABACO_CONFIG": path}).host.host_id == "from-env-path"


def test_a_missing_file_is_a_config_error(tmp_path, home):
    with pytest.raises(ConfigError, match="cannot read config file .*nope.toml"):
        load_config(str(tmp_path / "nope.toml"), env=home)


def test_a_section_must_be_a_table(tmp_path, home):
    path = write_toml(tmp_path, 'host = "h1"\n')
    with pytest.raises(ConfigError, match=r"\[host\] must be a table"):
        load_config(path, env=home)


def test_unknown_host_key_lists_the_known_keys(home):
    with pytest.raises(ConfigError) as err:
        load_config(env={**home, "ABACO__HOST__HOSTNAME": "x"})
    assert str(err.value) == "unknown config key host.hostname; known: docker_url, host_id, host_ip"


def test_unknown_section_lists_the_known_sections(home):
    with pytest.raises(ConfigError) as err:
        load_config(env={**home, "ABACO__HOSTS__HOST_ID": "x"})
    message = str(err.value)
    assert message.startswith("unknown config section [hosts]; known: ")
    known = message.split("known: ")[1].split(", ")
    assert known == sorted(known) and {"host", "worker", "spawner", "general"} <= set(known)


def test_unknown_key_in_a_file_is_an_error(tmp_path, home):
    path = write_toml(tmp_path, "[worker]\nmax_attempt = 3\n")
    with pytest.raises(ConfigError, match="unknown config key worker.max_attempt; known: .*max_attempts"):
        load_config(path, env=home)


# -- worker retries ------------------------------------------------------------------------------


def test_worker_retry_defaults(home):
    worker = load_config(env=home).worker
    assert (worker.max_attempts, worker.retry_delay, worker.max_failures) == (3, 1.0, 5)
    assert worker.stop_grace == 10 and worker.max_run_time == -1


def test_worker_retry_settings_from_env(home):
    env = {**home, "ABACO__WORKER__MAX_ATTEMPTS": " 7 ", "ABACO__WORKER__RETRY_DELAY": "0.25"}
    env["ABACO__WORKER__MAX_FAILURES"] = "2"
    worker = load_config(env=env).worker
    assert worker.max_attempts == 7 and worker.max_failures == 2
    assert worker.retry_delay == 0.25 and isinstance(worker.retry_delay, float)


def test_worker_retry_settings_from_toml(tmp_path, home):
    path = write_toml(tmp_path, "[worker]\nmax_attempts = 1\nretry_delay = 2\nmax_failures = 9\n")
    worker = load_config(path, env=home).worker
    assert worker == WorkerConfig(max_attempts=1, retry_delay=2.0, max_failures=9)
    assert isinstance(worker.retry_delay, float)


@pytest.mark.parametrize(
    "toml, fragment",
    [
        ("max_attempts = 2.5", "worker.max_attempts: expected int, got 2.5"),
        ("max_attempts = true", "worker.max_attempts: expected int, got True"),
        ('retry_delay = "soon"', "worker.retry_delay: expected float"),
        ("retry_delay = false", "worker.retry_delay: expected float, got False"),
        ("network = 5", "worker.network: expected str, got 5"),
        ("leave_containers = 1", "worker.leave_containers: expected bool, got 1"),
    ],
)
def test_wrong_types_in_a_file(tmp_path, home, toml, fragment):
    path = write_toml(tmp_path, f"[worker]\n{toml}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env=home)
    assert fragment in str(err.value)


# -- value parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "Yes", "on", " on "])
def test_truthy_bool_strings(home, text):
    assert load_config(env={**home, "ABACO__WORKER__LEAVE_CONTAINERS": text}).worker.leave_containers is True


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "NO", "off", " off\n"])
def test_falsy_bool_strings(home, text):
    env = {**home, "ABACO__HTTP__SHOW_TRACEBACK": text}
    assert load_config(env=env).http.show_traceback is False


@pytest.mark.parametrize("text", ["", "2", "y", "enabled"])
def test_other_bool_strings_are_errors(home, text):
    with pytest.raises(ConfigError, match="http.show_traceback: expected bool"):
        load_config(env={**home, "ABACO__HTTP__SHOW_TRACEBACK": text})


def test_toml_booleans(tmp_path, home):
    path = write_toml(tmp_path, "[http]\nshow_traceback = true\n[worker]\nleave_containers = false\n")
    cfg = load_config(path, env=home)
    assert cfg.http.show_traceback is True and cfg.worker.leave_containers is False


@pytest.mark.parametrize(
    "text, expected",
    [
        ("default", ("default",)),
        ("default,special", ("default", "special")),
        (" default ,, special , ", ("default", "special")),
    ],
)
def test_tuple_from_a_comma_separated_string(home, text, expected):
    assert load_config(env={**home, "ABACO__SPAWNER__HOST_QUEUES": text}).spawner.host_queues == expected


def test_tuple_from_a_toml_list_or_string(tmp_path, home):
    path = write_toml(tmp_path, '[spawner]\nhost_queues = ["a", "b", "c"]\n')
    assert load_config(path, env=home).spawner.host_queues == ("a", "b", "c")
    path = write_toml(tmp_path, '[spawner]\nhost_queues = "x, y"\n', name="other.toml")
    assert load_config(path, env=home).spawner.host_queues == ("x", "y")


def test_tuple_of_non_strings_is_an_error(tmp_path, home):
    path = write_toml(tmp_path, '[spawner]\nhost_queues = ["a", 1]\n')
    with pytest.raises(ConfigError, match=r"spawner.host_queues: expected tuple, got \[.a., 1\]"):
        load_config(path, env=home)


@pytest.mark.parametrize("text", ["", " , ,"])
def test_an_empty_queue_list_is_refused(home, text):
    with pytest.raises(ConfigError, match="host_queues must name at least one queue"):
        load_config(env={**home, "ABACO__SPAWNER__HOST_QUEUES": text})


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"ABACO__HTTP__THREADS": "0"}, "http.threads must be at least 1"),
        ({"ABACO__LOG__LEVEL": "verbose"}, "log.level must be DEBUG, INFO, WARNING or ERROR"),
        ({"ABACO__SPAWNER__WORKER_READY_TIMEOUT": "fast"}, "spawner.worker_ready_timeout: expected float"),
        ({"ABACO__A__B__C": "1"}, "expected ABACO__<SECTION>__<KEY>"),
        ({"ABACO__RABBIT__CONFIRM_TIMEOUT": "0"}, "rabbit.confirm_timeout must be 1 to 600 seconds"),
    ],
)
def test_invalid_values(home, env, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        load_config(env={**home, **env})


def test_log_level_is_case_insensitive_and_pull_policy_values(home):
    assert load_config(env={**home, "ABACO__LOG__LEVEL": "debug"}).log.level == "debug"
    for policy in ("if-not-present", "always", "never"):
        assert load_config(env={**home, "ABACO__SPAWNER__PULL_POLICY": policy}).spawner.pull_policy == policy


def test_variables_without_the_prefix_are_ignored(home):
    cfg = load_config(env={**home, "ABACO_HOST_ID": "x", "HOST__HOST_ID": "y", "abaco__host__host_id": "z"})
    assert cfg.host.host_id == "local"


# -- derived paths -------------------------------------------------------------------------------


def test_paths_derive_from_abaco_home(tmp_path):
    cfg = load_config(env={"ABACO_HOME": str(tmp_path)})
    assert cfg.general.home == str(tmp_path)
    assert cfg.general.data_dir == str(tmp_path / ".data")
    assert cfg.data_path == tmp_path / ".data"
    assert cfg.auth.jwt_secret_file == str(tmp_path / ".data" / "jwt_secret")
    assert cfg.jwt_secret_path == tmp_path / ".data" / "jwt_secret"
    assert cfg.mongo.password_file == str(tmp_path / ".data" / "secrets" / "mongo_password")
    assert cfg.redis.password_file == str(tmp_path / ".data" / "secrets" / "redis_password")
    assert cfg.rabbit.password_file == str(tmp_path / ".data" / "secrets" / "rabbit_password")


def test_home_defaults_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.general.home == os.getcwd()
    assert cfg.general.data_dir == os.path.join(os.getcwd(), ".data")


def test_configured_home_wins_over_abaco_home(tmp_path):
    env = {"ABACO_HOME": str(tmp_path / "ignored"), "ABACO__GENERAL__HOME": str(tmp_path / "chosen")}
    assert load_config(env=env).general.data_dir == str(tmp_path / "chosen" / ".data")


def test_an_explicit_data_dir_and_secret_file_are_kept(tmp_path, home):
    env = {
        **home,
        "ABACO__GENERAL__DATA_DIR": str(tmp_path / "var"),
        "ABACO__AUTH__JWT_SECRET_FILE": str(tmp_path / "etc" / "secret"),
    }
    cfg = load_config(env=env)
    assert cfg.general.data_dir == str(tmp_path / "var")
    assert cfg.auth.jwt_secret_file == str(tmp_path / "etc" / "secret")
    assert cfg.mongo.password_file == str(tmp_path / "var" / "secrets" / "mongo_password")


def test_install_id_is_a_stable_hash_of_the_data_dir(tmp_path):
    env_a = {"ABACO__GENERAL__DATA_DIR": str(tmp_path / "a")}
    first, second = load_config(env=env_a).general.install_id, load_config(env=env_a).general.install_id
    assert first == second == hashlib.sha256(str(tmp_path / "a").encode()).hexdigest()[:12]
    other = load_config(env={"ABACO__GENERAL__DATA_DIR": str(tmp_path / "b")}).general.install_id
    assert other != first and len(other) == 12
    # the same data dir reached through ABACO_HOME gives the same id
    assert (
        load_config(env={"ABACO_HOME": str(tmp_path)}).general.install_id
        == load_config(env={"ABACO__GENERAL__DATA_DIR": str(tmp_path / ".data")}).general.install_id
    )


def test_an_explicit_install_id_wins(home):
    assert load_config(env={**home, "ABACO__GENERAL__INSTALL_ID": "prod1"}).general.install_id == "prod1"


def test_with_credentials_quotes_the_user_and_password():
    assert with_credentials("amqp://h:5672/v", "a b", "p:w") == "amqp://a%20b:p%3Aw@h:5672/v"
    assert with_credentials("amqp://h:5672/v", "u", "") == "amqp://h:5672/v"
    assert with_credentials("amqp://x@h/v", "u", "p") == "amqp://x@h/v"


# -- abaco-admin config --------------------------------------------------------------------------

HIDDEN = {"mongo": ("url", "password"), "redis": ("url", "password"), "rabbit": ("url", "password")}


def test_config_toml_hides_the_fields_kept_out_of_repr(tmp_path):
    env = {
        "ABACO_HOME": str(tmp_path),
        "ABACO__MONGO__URL": "mongodb://root:mongo-secret@db:27017/",
        "ABACO__RABBIT__URL": "amqp://ops:rabbit-secret@mq:5672/abaco",
        "ABACO__REDIS__URL": "redis://:redis-secret@cache:6379/0",
        "ABACO__RABBIT__PASSWORD": "rabbit-password",
        "ABACO__HOST__HOST_ID": "h42",
    }
    text = config_toml(load_config(env=env))
    for secret in ("mongo-secret", "rabbit-secret", "redis-secret", "rabbit-password", "mongodb://", "amqp://"):
        assert secret not in text
    parsed = tomllib.loads(text)
    for section, names in HIDDEN.items():
        for name in names:
            assert parsed[section][name] == "<hidden>", f"{section}.{name}"
    assert parsed["host"] == {"host_id": "h42", "host_ip": "127.0.0.1", "docker_url": "unix:///var/run/docker.sock"}
    assert parsed["rabbit"]["user"] == "abaco" and parsed["mongo"]["db"] == "abaco"
    assert parsed["worker"]["retry_delay"] == 1.0 and parsed["worker"]["leave_containers"] is False


def test_config_toml_has_every_section_and_key(home):
    cfg = load_config(env=home)
    parsed = tomllib.loads(config_toml(cfg))
    assert list(parsed) == ["general", "http", "mongo", "redis", "rabbit", "auth", "host", "spawner", "worker",
                            "health", "events", "log", "metrics"]  # fmt: skip
    assert set(parsed["worker"]) == set(WorkerConfig.__dataclass_fields__)
    assert parsed["general"]["install_id"] == cfg.general.install_id


def test_admin_config_command_prints_the_toml(tmp_path, monkeypatch, capsys):
    for key in list(os.environ):
        if key.startswith("ABACO"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ABACO_HOME", str(tmp_path))
    monkeypatch.setenv("ABACO__REDIS__URL", "redis://:pw-in-url@cache/0")
    assert admin_cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert "pw-in-url" not in out
    assert tomllib.loads(out)["redis"]["url"] == "<hidden>"


def test_admin_reports_a_config_error(monkeypatch, capsys):
    monkeypatch.setenv("ABACO__NOPE__X", "1")
    assert admin_cli.main(["config"]) == 2
    assert "abaco-admin: unknown config section [nope]" in capsys.readouterr().err
