"""The blob store of binary payloads (GridFS, here over mongomock)."""

from __future__ import annotations

import io

import mongoengine
import pytest

from abaco_shared import blobs
from abaco_shared.blobs import Blob, Upload
from abaco_shared.errors import NotFound, ValidationError

PAYLOAD = bytes(range(256)) * 10_000  # 2.5 MB: three GridFS chunks


pytestmark = pytest.mark.usefixtures("mongo")  # GridFS over mongomock (use_mongomock enables it)


def stored_chunks() -> int:
    return mongoengine.get_db()[f"{blobs.BUCKET}.chunks"].count_documents({})


def read(blob_id: str) -> bytes:
    out = io.BytesIO()
    blobs.copy_to(blob_id, out)
    return out.getvalue()


class Trickle(io.RawIOBase):
    """A client that sends ``data`` in small pieces, then goes away (an empty read)."""

    def __init__(self, data: bytes, piece: int = 1000) -> None:
        self.data, self.piece = data, piece

    def read(self, size: int = -1) -> bytes:
        taken, self.data = self.data[: min(size, self.piece)], self.data[min(size, self.piece) :]
        return taken


def test_a_payload_is_stored_and_read_back_whole():
    blob = blobs.store(io.BytesIO(PAYLOAD), len(PAYLOAD), "dev_A1", "E1")

    assert blob.size == len(PAYLOAD)
    assert read(blob.blob_id) == PAYLOAD
    assert blobs.for_actor("dev_A1") == [blob]
    assert blobs.for_actor("dev_A2") == []


def test_only_the_declared_length_is_read():
    blob = blobs.store(io.BytesIO(b"abcdef-and-the-next-request"), 6, "dev_A1")

    assert read(blob.blob_id) == b"abcdef"


def test_short_reads_are_gathered_until_the_declared_length():
    blob = blobs.store(Trickle(PAYLOAD, piece=777), len(PAYLOAD), "dev_A1")

    assert read(blob.blob_id) == PAYLOAD


def test_a_body_that_ends_early_leaves_no_blob():
    with pytest.raises(ValidationError, match=r"ended after 1500000 of its 2560000 bytes"):
        blobs.store(Trickle(PAYLOAD[:1_500_000], piece=100_000), len(PAYLOAD), "dev_A1")

    assert blobs.for_actor("dev_A1") == []
    assert stored_chunks() == 0


def test_a_failing_stream_leaves_no_blob():
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("connection reset")

    with pytest.raises(OSError):
        blobs.store(Broken(), 10, "dev_A1")

    assert blobs.for_actor("dev_A1") == [] and stored_chunks() == 0


def test_save_streams_an_upload_and_keeps_a_stored_blob():
    blob = blobs.save(Upload(io.BytesIO(b"xyz"), 3), "dev_A1", "E1")

    assert read(blob.blob_id) == b"xyz"
    assert blobs.save(blob, "dev_A1", "E2") is blob  # a re-sent message: the same payload
    assert len(blobs.for_actor("dev_A1")) == 1


def test_delete_removes_the_blob_and_its_chunks():
    blob = blobs.store(io.BytesIO(PAYLOAD), len(PAYLOAD), "dev_A1")

    assert blobs.delete(blob.blob_id) is True
    assert blobs.delete(blob.blob_id) is False
    assert stored_chunks() == 0
    with pytest.raises(NotFound, match="is gone"):
        read(blob.blob_id)


@pytest.mark.parametrize("blob_id", ["not-an-id", ""])
def test_an_invalid_id_is_not_found(blob_id):
    with pytest.raises(NotFound):
        read(blob_id)
    assert blobs.delete(blob_id) is False


def test_deleting_an_actors_blobs_leaves_the_others():
    mine = [blobs.store(io.BytesIO(b"a" * n), n, "dev_A1") for n in (1, 2, 3)]
    other = blobs.store(io.BytesIO(b"b"), 1, "dev_A2")

    assert blobs.delete_for_actor("dev_A1") == 3
    assert blobs.for_actor("dev_A1") == []
    assert blobs.for_actor("dev_A2") == [other]
    assert all(isinstance(b, Blob) for b in mine)
