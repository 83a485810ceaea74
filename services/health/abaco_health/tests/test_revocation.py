"""Health has clientg revoke the credential of every worker it reaps (it never exited cleanly)."""

from __future__ import annotations

import pytest

from abaco_health.checks import HealthChecker
from abaco_shared.channels import ClientsChannel
from abaco_shared.config import HostConfig
from abaco_shared.enums import WorkerStatus
from abaco_shared.messages import ClientRequest
from abaco_shared.testing import FakeClients

from .test_checks import CFG, DEAD_PID, LIVE_PID, make_worker, new_actor


@pytest.fixture
def clients():
    return FakeClients()


@pytest.fixture
def checker(mongo, broker, docker, clients):
    return HealthChecker(CFG, HostConfig(host_id="h1"), broker, docker, install_id="i1", clients=clients)


def test_a_dead_worker_has_its_credential_revoked(checker, clients):
    actor = new_actor(token=True)
    dead = make_worker(actor, WorkerStatus.BUSY, pid=DEAD_PID)
    make_worker(actor, WorkerStatus.READY, pid=LIVE_PID)

    assert checker.reap().dead == 1

    assert [(r.command, r.tenant, r.actor_dbid, r.worker_id) for r in clients.requests] == [
        ("delete", "dev", actor.db_id, dead.worker_id)
    ]
    assert clients.timeouts == []  # told, never awaited


def test_a_stuck_worker_has_its_credential_revoked(checker, clients):
    actor = new_actor(token=True)
    stuck = make_worker(actor, WorkerStatus.CREATING_CONTAINER, host_id=None, age=CFG.startup_timeout + 5)

    assert checker.reap().stuck == 1

    assert [(r.command, r.worker_id) for r in clients.requests] == [("delete", stuck.worker_id)]


def test_nothing_reaped_nothing_revoked(checker, clients):
    make_worker(new_actor(token=True), WorkerStatus.READY, pid=LIVE_PID)

    checker.reap()

    assert clients.requests == []


def test_the_revocation_is_queued_for_clientg_on_the_clients_channel(mongo, broker, docker):
    """Without a stand-in, the request waits on the clients queue until clientg takes it."""
    checker = HealthChecker(CFG, HostConfig(host_id="h1"), broker, docker, install_id="i1")
    dead = make_worker(new_actor(), WorkerStatus.READY, pid=DEAD_PID)

    checker.reap()

    body = broker.get(ClientsChannel(broker).queue, timeout=0)
    assert ClientRequest.from_dict(body).worker_id == dead.worker_id
