"""Binary messages in the worker: the payload as a read-only file in the container, cleaned up after."""

from __future__ import annotations

import io
import stat

import pytest

from abaco_shared import blobs, executions
from abaco_shared.containers import ContainerSpec
from abaco_shared.enums import ExecutionOutcome, ExecutionStatus
from abaco_shared.messages import MailboxMessage
from abaco_shared.retry import Disposition
from abaco_shared.testing import FakeRun
from abaco_worker.binary import CONTAINER_PATH, BinaryPayloads

from .test_execution_runner import WID, build_rig

pytestmark = pytest.mark.usefixtures("mongo")

PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: far past a pipe's 64 KiB


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def binary_message(actor, ex_id: str = "E1", payload: bytes = PAYLOAD) -> MailboxMessage:
    """A binary message as the messages API queues it: its execution recorded, its payload stored."""
    blob = blobs.store(io.BytesIO(payload), len(payload), actor.db_id, ex_id)
    ctype = "application/octet-stream"
    executions.submit(actor, ex_id, "alice", ctype, {"binary_size": blob.size}, {}, binary_ref=blob.blob_id)
    return MailboxMessage(ex_id, ctype, {"binary_size": blob.size}, binary_ref=blob.blob_id, binary_size=blob.size)


@pytest.fixture
def rig(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path / "cg", docker, redis_client)
    rig.runner.binary = BinaryPayloads(WID, tmp_path / "binary")
    return rig


# -- BinaryPayloads on its own ----------------------------------------------------------------------
def test_a_message_that_is_not_binary_costs_nothing(tmp_path):
    payloads = BinaryPayloads(WID, tmp_path / "binary")
    spec = ContainerSpec(image="i", environment={})
    msg = MailboxMessage("E1", "str", "hi")

    assert payloads.mount(spec, msg) is spec
    payloads.release(msg)
    payloads.spent(msg)
    assert not (tmp_path / "binary").exists()


def test_the_payload_is_a_read_only_file_mounted_read_only(tmp_path, mongo):
    from abaco_shared import actors

    actor = actors.create("dev", "alice", {"image": "abaco/echo:latest"})
    payloads = BinaryPayloads(WID, tmp_path / "binary")
    msg = binary_message(actor)

    spec = payloads.mount(ContainerSpec(image="i", environment={}, binds=["/a:/b:ro"]), msg)

    path = tmp_path / "binary" / WID / "E1"
    assert spec.binds == ["/a:/b:ro", f"{path}:{CONTAINER_PATH}:ro"]
    assert path.read_bytes() == PAYLOAD
    assert (mode(path), mode(path.parent), mode(path.parent.parent)) == (0o444, 0o711, 0o755)

    payloads.release(msg)
    assert not path.exists() and not path.parent.exists()
    assert blobs.for_actor(actor.db_id)  # the blob stays until the execution is COMPLETE


# -- through the ExecutionRunner ------------------------------------------------------------------
def test_a_binary_message_runs_with_its_file_then_file_and_blob_are_gone(rig, tmp_path):
    msg = binary_message(rig.actor)
    path = tmp_path / "binary" / WID / "E1"
    seen = {}

    def during(cid):
        seen["bytes"] = path.read_bytes()

    rig.docker.runs.append(FakeRun(exit_code=0, during=during))
    assert rig.handle(msg) is Disposition.ACK

    assert seen["bytes"] == PAYLOAD
    [spec] = rig.docker.specs
    assert f"{path}:{CONTAINER_PATH}:ro" in spec.binds
    assert "MSG" not in spec.environment
    assert spec.environment["_abaco_Content_Type"] == "application/octet-stream"
    assert rig.ex().status == ExecutionStatus.COMPLETE
    assert not path.exists()
    assert blobs.for_actor(rig.actor.db_id) == []


def test_a_failed_start_keeps_the_blob_for_a_retry_and_removes_the_file(rig, tmp_path):
    msg = binary_message(rig.actor)
    rig.docker.runs.append(FakeRun(error="engine hiccup"))

    assert rig.handle(msg) is Disposition.RETRY

    assert not (tmp_path / "binary" / WID / "E1").exists()
    assert len(blobs.for_actor(rig.actor.db_id)) == 1
    rig.docker.runs.append(FakeRun(exit_code=0))
    assert rig.handle(msg) is Disposition.ACK  # the retry stages it again
    assert rig.ex().status == ExecutionStatus.COMPLETE and blobs.for_actor(rig.actor.db_id) == []


def test_an_execution_that_never_ran_keeps_its_blob(tmp_path, docker, redis_client):
    rig = build_rig(tmp_path / "cg", docker, redis_client, max_attempts=1)
    rig.runner.binary = BinaryPayloads(WID, tmp_path / "binary")
    msg = binary_message(rig.actor)
    rig.docker.runs.append(FakeRun(error="no such image"))

    assert rig.handle(msg) is Disposition.ACK

    assert rig.ex().outcome == ExecutionOutcome.NOT_STARTED
    assert len(blobs.for_actor(rig.actor.db_id)) == 1  # a re-send can use it
    assert not (tmp_path / "binary" / WID / "E1").exists()


def test_a_payload_that_is_gone_ends_the_execution_without_running(rig, tmp_path):
    msg = binary_message(rig.actor)
    blobs.delete(msg.binary_ref)

    assert rig.handle(msg) is Disposition.ACK

    ex = rig.ex()
    assert ex.outcome == ExecutionOutcome.NOT_STARTED and "is gone" in ex.status_message
    assert rig.docker.specs == []
    assert not (tmp_path / "binary" / WID).exists()


def test_a_string_message_gets_no_binary_mount(rig, tmp_path):
    assert rig.handle(rig.submit()) is Disposition.ACK

    [spec] = rig.docker.specs
    assert not any(CONTAINER_PATH in bind for bind in spec.binds)
    assert not (tmp_path / "binary").exists()
