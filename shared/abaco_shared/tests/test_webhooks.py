"""Webhook secrets and signatures, the platform key they derive from, and who sees a secret."""

import hashlib
import hmac
import threading

import pytest

from abaco_shared import permissions
from abaco_shared.auth import Principal
from abaco_shared.config import EventsConfig, load_config
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import ConfigError
from abaco_shared.webhooks import WebhookKey, secret_fields, secret_for, signature, verify
from abaco_shared.workflows.registration import register_actor

ALICE = Principal("alice", "dev", frozenset({Role.USER}))
BOB = Principal("bob", "dev", frozenset({Role.USER}))
KEY = "k" * 32


def test_a_secret_is_per_actor_and_per_platform_key():
    one = secret_for(b"a" * 32, "dev_A")
    assert one == secret_for(b"a" * 32, "dev_A") and len(one) == 64
    assert one != secret_for(b"a" * 32, "dev_B")
    assert one != secret_for(b"b" * 32, "dev_A")


def test_the_signature_is_the_hmac_sha256_of_the_exact_body():
    body = b'{"event_type":"ACTOR_READY"}'
    sig = signature("s3cret", body)
    assert sig == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify("s3cret", body, sig)
    assert not verify("s3cret", body + b" ", sig)
    assert not verify("other", body, sig)
    assert not verify("s3cret", body, sig.removeprefix("sha256="))


def test_the_key_comes_from_the_config_before_any_file(tmp_path):
    key = WebhookKey(EventsConfig(webhook_key=KEY, webhook_key_file=str(tmp_path / "never")))
    assert key.value() == KEY.encode()
    assert not (tmp_path / "never").exists()


def test_a_missing_key_file_is_made_once_private_and_shared_by_every_reader(tmp_path):
    path = tmp_path / "secrets" / "webhook_key"
    readers = [WebhookKey(EventsConfig(webhook_key_file=str(path))) for _ in range(8)]
    values: list[bytes] = []
    threads = [threading.Thread(target=lambda k=k: values.append(k.value())) for k in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(values)) == 1 and len(values[0]) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["webhook_key"]  # no temporary file left


def test_a_short_or_unreadable_key_is_a_config_error(tmp_path):
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(ConfigError, match="shorter than 32"):
        WebhookKey(EventsConfig(webhook_key_file=str(tmp_path / "short"))).value()
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot read or make"):
        WebhookKey(EventsConfig(webhook_key_file=str(tmp_path / "a-file" / "key"))).value()


def test_the_config_section_has_defaults_and_validates(tmp_path):
    cfg = load_config(env={"ABACO_HOME": str(tmp_path)})
    assert cfg.events.webhook_key_file == str(tmp_path / ".data" / "secrets" / "webhook_key")
    assert (cfg.events.webhook_attempts, cfg.events.webhook_backoff) == (5, 1.0)
    assert "webhook_key=" not in repr(cfg.events)
    short = load_config(env={"ABACO_HOME": str(tmp_path), "ABACO__EVENTS__WEBHOOK_KEY": "<hidden>"})
    with pytest.raises(ConfigError, match="at least 32"):
        WebhookKey(short.events).value()  # refused where it is used: the agent exits at start
    for name, value in [
        ("WEBHOOK_ATTEMPTS", "0"),
        ("WEBHOOK_TIMEOUT", "0"),
        ("WEBHOOK_BACKOFF", "100"),
        ("THREADS", "0"),
        ("PREFETCH", "1"),
    ]:
        with pytest.raises(ConfigError, match="events"):
            load_config(env={"ABACO_HOME": str(tmp_path), f"ABACO__EVENTS__{name}": value})


def test_only_callers_with_update_see_the_secret_of_an_actor_with_a_webhook(mongo, broker):
    key = WebhookKey(EventsConfig(webhook_key=KEY))
    actor = register_actor(ALICE, {"image": "abaco/echo:latest", "webhook": "https://example.org/h"}, broker)
    assert secret_fields(actor, ALICE, key) == {"webhook_secret": secret_for(KEY.encode(), actor.db_id)}
    permissions.grant("dev", actor.db_id, "bob", Permission.EXECUTE)
    assert secret_fields(actor, BOB, key) == {}
    permissions.grant("dev", actor.db_id, "bob", Permission.UPDATE)
    assert "webhook_secret" in secret_fields(actor, BOB, key)
    plain = register_actor(ALICE, {"image": "abaco/echo:latest"}, broker)
    assert secret_fields(plain, ALICE, key) == {}
