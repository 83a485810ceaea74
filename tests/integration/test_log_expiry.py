"""Logs expire by the actor's log_ex: the worker stamps each log record with its expiry time, and
the platform's MongoDB has the TTL index that removes it (its TTL monitor runs once a minute)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pytest

from abaco_shared.config import load_config
from abaco_shared.models import Log
from abaco_shared.store import connect_mongo, disconnect_mongo

from .conftest import ROOT


@pytest.fixture
def mongo() -> Iterator[None]:
    connect_mongo(load_config(env={**os.environ, "ABACO_HOME": str(ROOT)}).mongo)
    try:
        yield
    finally:
        disconnect_mongo()


def test_an_actors_log_ex_sets_when_its_logs_expire(client, actors, mongo):
    actor = actors("abaco/echo:latest", log_ex=120)
    assert actor["log_ex"] == 120
    eid = client.send(actor["id"], "short-lived")
    done = client.wait_execution(actor["id"], eid)
    assert "short-lived" in client.logs(actor["id"], eid)

    record = Log.objects(execution_id=eid).first()
    finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert record.exp is not None and done["status"] == "COMPLETE"
    assert finished + dt.timedelta(seconds=60) < record.exp <= finished + dt.timedelta(seconds=121)

    indexes = Log._get_collection().index_information().values()
    assert [i.get("expireAfterSeconds") for i in indexes if i["key"] == [("exp", 1)]] == [0]


def test_the_platforms_mongodb_runs_its_ttl_monitor(mongo):
    # mongod keeps its TTL monitor off (records never expire, nothing else says so) when it runs
    # standalone on a data directory that was a replica set member: scripts/up.sh converts that
    warnings = Log._get_db().client.admin.command("getLog", "startupWarnings")["log"]
    assert not [line for line in warnings if "TTL" in line], warnings
