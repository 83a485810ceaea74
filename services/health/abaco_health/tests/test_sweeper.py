"""The directory sweep: per-worker directories whose worker is gone, once they are old enough."""

from __future__ import annotations

import os
import time

import pymongo.errors
import pytest

from abaco_health.sweeper import DirSweeper, worker_exists
from abaco_shared.models import Worker


def make_dir(root, name, age):
    path = root / name
    path.mkdir(parents=True)
    (path / "E1.sock").write_text("")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_old_directories_of_missing_workers_go_and_the_rest_stay(tmp_path):
    sockets, binary = tmp_path / "sockets", tmp_path / "binary"
    gone = make_dir(sockets, "W_GONE", age=600)
    live = make_dir(sockets, "W_LIVE", age=600)
    young = make_dir(binary, "W_YOUNG", age=5)
    stray_file = sockets / "notes.txt"
    stray_file.write_text("x")
    sweeper = DirSweeper([sockets, binary, tmp_path / "absent"], min_age=120, exists=lambda w: w == "W_LIVE")

    assert sweeper.run() == 1

    assert not gone.exists() and live.exists() and young.exists() and stray_file.exists()


def test_a_store_outage_ends_the_pass_without_removing_anything(tmp_path):
    make_dir(tmp_path, "W1", age=600)

    def down(worker_id):
        raise pymongo.errors.ServerSelectionTimeoutError("no servers")

    sweeper = DirSweeper([tmp_path], exists=down)
    assert sweeper.run() == 0
    assert (tmp_path / "W1").exists() and sweeper.outage.active


@pytest.mark.usefixtures("mongo")
def test_worker_exists_reads_the_records_of_every_host():
    Worker(db_id="dev_A_W1", worker_id="W1", actor_dbid="dev_A", tenant="dev", host_id="other").save()
    assert worker_exists("W1") and not worker_exists("W2")
