"""GET /metrics: Prometheus text for admins (their tenant, or every tenant for operators), and
for callers on this host without a token when ``metrics.access = "loopback"``."""

import dataclasses
import io
from wsgiref.util import setup_testing_defaults

import pytest

from abaco_admin.app import make_app
from abaco_admin.metrics_routes import caller_is_local
from abaco_shared import actors, executions
from abaco_shared.config import MetricsConfig, load_config
from abaco_shared.enums import Role, WorkerStatus
from abaco_shared.errors import ConfigError
from abaco_shared.testing.prometheus import parse, value_of

from .test_app import AUTH, CFG, new_worker

ADMIN = (Role.ADMIN,)


def get(app, *, tenant="dev", roles=ADMIN, token=True, remote="127.0.0.1", real_ip=None, path="/metrics"):
    environ = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, REMOTE_ADDR=remote, CONTENT_LENGTH="0")
    environ["wsgi.input"] = io.BytesIO(b"")
    if token:
        environ["HTTP_AUTHORIZATION"] = "Bearer " + AUTH.mint("root", tenant, list(roles))
    if real_ip is not None:
        environ["HTTP_X_REAL_IP"] = real_ip
    started = []
    out = b"".join(app(environ, lambda status, headers, exc=None: started.append((status, dict(headers)))))
    status, headers = started[0]
    return int(status.split()[0]), headers, out.decode()


def with_metrics(**fields):
    return dataclasses.replace(CFG, metrics=dataclasses.replace(CFG.metrics, **fields))


@pytest.fixture
def records(mongo):
    mine = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    theirs = actors.create("other", "eve", {"image": "abaco/echo:latest"})
    new_worker(mine, "W1", WorkerStatus.READY)
    new_worker(theirs, "W9", WorkerStatus.BUSY)
    executions.submit(theirs, "E9", "eve", "str", "hi", {})
    return mine, theirs


def app_for(cfg, broker, redis_client):
    return make_app(cfg, AUTH, broker, redis_client)


def test_an_admin_reads_prometheus_text_of_its_tenant(records, broker, redis_client):
    mine, theirs = records
    status, headers, text = get(app_for(CFG, broker, redis_client))

    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = parse(text)
    assert value_of(families, "abaco_mailbox_messages", actor=mine.actor_id) == 0
    assert value_of(families, "abaco_mailbox_messages", actor=theirs.actor_id) is None
    assert (
        value_of(families, "abaco_workers", status="READY"),
        value_of(families, "abaco_workers", status="BUSY"),
    ) == (
        1,
        0,
    )
    assert families["abaco_execution_runtime_seconds"].type == "histogram"


def test_under_every_api_prefix(records, broker, redis_client):
    app = app_for(CFG, broker, redis_client)
    assert get(app, path="/metrics")[0] == 200
    assert get(app, path="//metrics")[0] == 200


def test_operators_see_every_tenant(records, broker, redis_client):
    _, theirs = records
    app = app_for(with_metrics(operator_tenants=("DEV",)), broker, redis_client)

    families = parse(get(app)[2])

    assert value_of(families, "abaco_mailbox_messages", tenant="other", actor=theirs.actor_id) == 0
    assert value_of(families, "abaco_executions", status="SUBMITTED", outcome="") == 1


@pytest.mark.parametrize("role", [Role.USER, Role.PRIVILEGED, Role.LIMITED])
def test_others_get_403(records, broker, redis_client, role):
    status, headers, text = get(app_for(CFG, broker, redis_client), roles=(role,))
    assert status == 403 and headers["Content-Type"] == "application/json" and '"status": "error"' in text


def test_no_token_is_401_by_default_even_from_this_host(records, broker, redis_client):
    assert get(app_for(CFG, broker, redis_client), token=False)[0] == 401


def test_loopback_access_needs_no_token_from_this_host_only(records, broker, redis_client):
    _, theirs = records
    app = app_for(with_metrics(access="loopback"), broker, redis_client)

    status, _, text = get(app, token=False, real_ip="127.0.0.1")  # through nginx, from this host
    assert status == 200
    assert value_of(parse(text), "abaco_mailbox_messages", actor=theirs.actor_id) == 0  # every tenant
    assert get(app, token=False, remote="::1")[0] == 200  # directly
    assert get(app, token=False, real_ip="203.0.113.9")[0] == 401  # through nginx from elsewhere
    assert get(app, token=False, remote="10.1.2.3")[0] == 401  # directly from elsewhere
    assert get(app, roles=(Role.USER,))[0] == 403  # a credential is always judged
    assert get(app, real_ip="203.0.113.9")[0] == 200  # an admin from anywhere


@pytest.mark.parametrize(
    ("remote", "real_ip", "local"),
    [
        ("127.0.0.1", None, True),
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "  ::1 ", True),
        ("127.0.0.1", "198.51.100.7", False),
        ("127.0.0.1", "not-an-ip", False),
        ("198.51.100.7", "127.0.0.1", False),  # a forged header from elsewhere
        ("", None, False),
    ],
)
def test_who_is_on_this_host(remote, real_ip, local):
    environ = {"REMOTE_ADDR": remote} | ({"HTTP_X_REAL_IP": real_ip} if real_ip is not None else {})
    assert caller_is_local(environ) is local


def test_metrics_config_is_validated():
    assert MetricsConfig().access == "admin"
    for env in (
        {"ABACO__METRICS__ACCESS": "open"},
        {"ABACO__METRICS__MAX_MAILBOXES": "-1"},
        {"ABACO__METRICS__OPERATOR_TENANTS": "a_b"},
    ):
        with pytest.raises(ConfigError):
            load_config(env=env)
    cfg = load_config(env={"ABACO__METRICS__ACCESS": "loopback", "ABACO__METRICS__OPERATOR_TENANTS": "admin,ops"})
    assert (cfg.metrics.access, cfg.metrics.operator_tenants) == ("loopback", ("admin", "ops"))
