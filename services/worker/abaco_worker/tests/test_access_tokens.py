"""Actor tokens on the worker's side: a token per execution of a ``token`` actor, from clientg,
into ``_abaco_access_token``; the credential itself never reaches the container; revoked on exit."""

from __future__ import annotations

import threading

import pytest

from abaco_shared import actors
from abaco_shared.channels import SpawnerWorkerChannel
from abaco_shared.credentials import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from abaco_shared.enums import ExecutionStatus
from abaco_shared.messages import ClientReply, ClientRequest, MailboxMessage
from abaco_shared.models import Actor
from abaco_shared.testing import FakeClients
from abaco_worker.access import AccessTokens, WorkerCredential
from abaco_worker.confinement import RunLimits
from abaco_worker.environment import container_env

from .test_execution_runner import WID, build_rig
from .test_worker import FakeContext, build_worker, load_config

CRED = WorkerCredential("dev_W1", "the-secret")


def minted(req: ClientRequest) -> ClientReply:
    return ClientReply(status="ok", client_id=req.client_id, token=f"jwt-for-{req.worker_id}-{req.ttl}")


@pytest.fixture
def clients():
    return FakeClients(answer=minted)


def rig_with_tokens(tmp_path, docker, redis_client, clients, credential=CRED, **actor_values):
    rig = build_rig(tmp_path, docker, redis_client, actor_values=actor_values, limits=RunLimits(max_run_time=300))
    rig.runner.tokens = AccessTokens(clients, rig.actor.db_id, WID, credential, timeout=2.0)
    return rig


# -- the execution runner -------------------------------------------------------------------------


def test_a_token_actors_container_gets_a_fresh_token_per_execution(tmp_path, docker, redis_client, clients, mongo):
    rig = rig_with_tokens(tmp_path, docker, redis_client, clients, token=True)

    rig.handle(rig.submit("E1"))
    rig.handle(rig.submit("E2"))

    assert [s.environment["_abaco_access_token"] for s in docker.specs] == ["jwt-for-W1-300", "jwt-for-W1-300"]
    req = clients.requests[0]
    assert (req.command, req.tenant, req.actor_dbid, req.worker_id) == ("token", "dev", rig.actor.db_id, WID)
    assert (req.client_id, req.secret, req.ttl) == ("dev_W1", "the-secret", 300)  # the execution's run time
    assert clients.timeouts == [2.0, 2.0]
    env = docker.specs[0].environment
    assert "the-secret" not in env.values() and CLIENT_SECRET_ENV not in env and CLIENT_ID_ENV not in env
    assert env["_abaco_api_server"] == "http://api"


def test_an_actor_without_token_never_asks_clientg(tmp_path, docker, redis_client, clients, mongo):
    rig = rig_with_tokens(tmp_path, docker, redis_client, clients)

    rig.handle(rig.submit())

    assert clients.requests == []
    assert docker.specs[0].environment["_abaco_access_token"] == ""


@pytest.mark.parametrize(
    "setup",
    ["refused", "silent", "no-credential"],
)
def test_without_a_token_the_execution_still_runs_with_an_empty_one(
    tmp_path, docker, redis_client, clients, mongo, caplog, setup
):
    if setup == "refused":
        clients.answer = lambda req: ClientReply(status="error", message="unknown or revoked credential")
    clients.silent = setup == "silent"
    credential = None if setup == "no-credential" else CRED
    rig = rig_with_tokens(tmp_path, docker, redis_client, clients, credential=credential, token=True)

    rig.handle(rig.submit())

    assert rig.ex().status == ExecutionStatus.COMPLETE
    assert docker.specs[0].environment["_abaco_access_token"] == ""
    assert any("empty token" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert clients.commands() == ([] if setup == "no-credential" else ["token"])


# -- AccessTokens ---------------------------------------------------------------------------------


def token_actor(**kw) -> Actor:
    return Actor(db_id="dev_A1", actor_id="A1", tenant="dev", owner="alice", image="i", token=True, **kw)


def test_for_execution_sends_no_negative_ttl(clients):
    tokens = AccessTokens(clients, "dev_A1", "W1", CRED)

    tokens.for_execution(token_actor(), -1)

    assert clients.requests[0].ttl == 0  # clientg's cap


def test_revoke_asks_clientg_once_then_forgets_the_credential(clients):
    tokens = AccessTokens(clients, "dev_A1", "W1", CRED, timeout=30)

    tokens.revoke()
    tokens.revoke()

    assert clients.commands() == ["delete"]
    assert (clients.requests[0].client_id, clients.requests[0].worker_id) == ("dev_W1", "W1")
    assert clients.timeouts == [5.0]  # an exiting worker does not wait long
    assert tokens.for_execution(token_actor(), 10) == ""  # no credential any more


def test_revoke_survives_a_silent_clientg(clients):
    clients.silent = True
    AccessTokens(clients, "dev_A1", "W1", CRED).revoke()

    assert clients.commands() == ["delete"]


def test_revoke_without_a_credential_asks_nothing(clients):
    AccessTokens(clients, "dev_A1", "W1", None).revoke()

    assert clients.requests == []


def test_the_credential_is_taken_out_of_the_environment():
    environ = {CLIENT_ID_ENV: "dev_W1", CLIENT_SECRET_ENV: "s", "OTHER": "x"}

    assert WorkerCredential.take_from(environ) == WorkerCredential("dev_W1", "s")
    assert environ == {"OTHER": "x"}
    assert WorkerCredential.take_from({CLIENT_ID_ENV: "dev_W1"}) is None
    assert "s" not in repr(WorkerCredential("dev_W1", "s"))


def test_container_env_carries_the_token():
    msg = MailboxMessage(execution_id="E1", content_type="str", message="m", env={"_abaco_access_token": "forged"})

    env = container_env(token_actor(), msg, "W1", "http://api", "tok")

    assert env["_abaco_access_token"] == "tok"  # a message parameter cannot set it


# -- the worker ----------------------------------------------------------------------------------


def test_a_worker_has_its_credential_revoked_when_it_exits(tmp_path, broker, redis_client, docker, clients, mongo):
    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest", "token": True})
    ctx = FakeContext(load_config(env={"ABACO_HOME": str(tmp_path)}), broker, redis_client)
    w = build_worker(ctx, docker, WID, actor.db_id, CRED, clients=clients)
    assert w.runner.tokens is not None and w.runner.tokens.credential == CRED
    assert w.runner.tokens.timeout == ctx.cfg.auth.clientg_timeout
    SpawnerWorkerChannel(broker, WID).send_cancel()  # it exits at once

    w.run(threading.Event())

    assert clients.commands() == ["delete"]
