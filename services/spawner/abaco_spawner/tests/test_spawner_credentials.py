"""The spawner gets a clientg credential for each worker of an actor with ``token`` on."""

from __future__ import annotations

import pytest

from abaco_shared import actors
from abaco_shared.config import SpawnerConfig
from abaco_shared.credentials import CLIENT_ID_ENV, CLIENT_SECRET_ENV
from abaco_shared.enums import WorkerStatus
from abaco_shared.messages import ClientReply
from abaco_shared.testing import FakeClients, InlineExecutor
from abaco_spawner.spawner import Spawner

from .test_spawner import HOST, IMAGE, FakeLauncher, barrier, request, status_of


def issued(req):
    return ClientReply(status="ok", client_id=f"{req.tenant}_{req.worker_id}", secret="s3cret")


@pytest.fixture
def clients():
    return FakeClients(answer=issued)


@pytest.fixture
def launcher():
    return FakeLauncher()


@pytest.fixture
def make(broker, docker, launcher, clients):
    def make(**kw) -> Spawner:
        return Spawner(
            SpawnerConfig(pull_backoff=0), HOST, broker, docker, kw.pop("launch", launcher),
            pulls=InlineExecutor(), clientg_timeout=3.0, clients=clients, **kw,
        )  # fmt: skip

    return make


def token_actor(**values):
    return actors.create("dev", "alice", {"image": IMAGE, "token": True, **values})


def test_a_token_actors_worker_gets_its_credential_in_its_environment(mongo, broker, make, launcher, clients):
    actor = token_actor()
    worker, cmd = request(actor, broker)

    assert make().handle(cmd) is True

    [req] = clients.requests
    assert (req.command, req.tenant, req.actor_dbid, req.worker_id) == ("new", "dev", actor.db_id, worker.worker_id)
    assert clients.timeouts == [3.0]
    assert launcher.envs == [{CLIENT_ID_ENV: f"dev_{worker.worker_id}", CLIENT_SECRET_ENV: "s3cret"}]
    assert launcher.calls[0][2] == WorkerStatus.CREATING_CONTAINER  # asked while it is being started
    assert barrier(broker, worker.worker_id) == ["READY"]


def test_an_actor_without_token_never_asks_clientg(mongo, broker, make, launcher, clients):
    actor = actors.create("dev", "alice", {"image": IMAGE})
    _, cmd = request(actor, broker)

    assert make().handle(cmd) is True

    assert clients.requests == [] and launcher.envs == [{}]


def test_a_silent_clientg_starts_the_worker_without_a_credential_and_revokes_behind(
    mongo, broker, make, launcher, clients
):
    clients.silent = True
    actor = token_actor()
    worker, cmd = request(actor, broker)

    assert make().handle(cmd) is True

    assert launcher.envs == [{}]
    assert status_of(worker) == WorkerStatus.UPDATING_STORE
    assert clients.commands() == ["new", "delete"]  # a late "new" is undone by the queued "delete"


def test_a_refused_credential_starts_the_worker_without_one(mongo, broker, make, launcher, clients):
    clients.answer = lambda req: ClientReply(status="error", message="no")
    _, cmd = request(token_actor(), broker)

    assert make().handle(cmd) is True

    assert launcher.envs == [{}] and clients.commands() == ["new"]


def test_a_launch_that_fails_revokes_the_credential(mongo, broker, make, clients):
    def crash(worker_id, actor_dbid, env):
        raise RuntimeError("fork failed")

    worker, cmd = request(token_actor(), broker)

    with pytest.raises(RuntimeError):
        make(launch=crash).handle(cmd)

    assert clients.commands() == ["new", "delete"]
    assert clients.requests[1].worker_id == worker.worker_id


def test_a_worker_started_after_a_pull_gets_its_credential(mongo, broker, make, launcher, clients, docker):
    actor = token_actor(image="abaco/other:latest")
    _, cmd = request(actor, broker)

    assert make().handle(cmd) is True

    assert ("pull", "abaco/other:latest") in docker.calls
    assert launcher.envs[0][CLIENT_SECRET_ENV] == "s3cret"
