"""Binary message payloads, kept in MongoDB GridFS so that a worker on any host can read them.

A payload is streamed into the store when its message is POSTed (never whole in memory), under
its actor's key (GridFS's ``filename``, so an actor's payloads are found through the bucket's own
index), and deleted when the execution that used it is COMPLETE, or with its actor. An execution
that ended without running keeps its payload, so that its message can be re-sent (the re-sent
execution carries the same blob id).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import BinaryIO

import mongoengine
from bson import ObjectId
from bson.errors import InvalidId
from gridfs import GridFSBucket, GridIn
from gridfs.errors import CorruptGridFile, NoFile

from .errors import NotFound, ValidationError

__all__ = [
    "BUCKET",
    "CHUNK_SIZE",
    "Blob",
    "Upload",
    "save",
    "store",
    "copy_to",
    "delete",
    "for_actor",
    "delete_for_actor",
]

log = logging.getLogger(__name__)

BUCKET = "payloads"
CHUNK_SIZE = 1024 * 1024  # GridFS chunk size, and the size of each read and write when copying


@dataclass(frozen=True)
class Blob:
    """A stored payload: its id in the blob store, its size in bytes, and (when it was stored by
    this process) the SHA-256 of its bytes, hex."""

    blob_id: str
    size: int
    sha256: str = field(default="", compare=False)  # known only to the process that stored it


@dataclass(frozen=True)
class Upload:
    """A payload still to be stored: exactly ``size`` bytes to read from ``stream``."""

    stream: BinaryIO
    size: int


def _bucket() -> GridFSBucket:
    return GridFSBucket(mongoengine.get_db(), bucket_name=BUCKET, chunk_size_bytes=CHUNK_SIZE)


def _object_id(blob_id: str) -> ObjectId:
    try:
        return ObjectId(blob_id)
    except (InvalidId, TypeError):
        raise NotFound(f"No binary payload found with identifier: {blob_id}.") from None


def save(payload: Upload | Blob, actor_dbid: str, execution_id: str = "") -> Blob:
    """The payload as a stored blob: an Upload is streamed into the store now; a Blob (a re-sent
    message's payload) is already there."""
    if isinstance(payload, Blob):
        return payload
    return store(payload.stream, payload.size, actor_dbid, execution_id)


def store(stream: BinaryIO, size: int, actor_dbid: str, execution_id: str = "") -> Blob:
    """Copy exactly ``size`` bytes of ``stream`` into a new blob of the actor, one chunk at a time.

    A stream that ends early (the client went away mid-body) is a ValidationError, and any
    failure leaves no blob behind: the chunks written so far are removed.
    """
    grid_in = _bucket().open_upload_stream(actor_dbid, metadata={"execution_id": execution_id})
    digest = hashlib.sha256()
    try:
        remaining = size
        while remaining > 0:
            chunk = stream.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise ValidationError(
                    f"The request body ended after {size - remaining} of its {size} bytes (Content-Length); "
                    "nothing was stored."
                )
            grid_in.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
        grid_in.close()
    except BaseException:
        _abort(grid_in, actor_dbid)
        raise
    return Blob(str(grid_in._id), size, digest.hexdigest())


def _abort(grid_in: GridIn, actor_dbid: str) -> None:
    try:
        grid_in.abort()
    except Exception as exc:  # the original failure matters more; the chunks go with the actor
        log.warning("could not remove a failed upload's chunks: %s", exc, extra={"actor_id": actor_dbid})


def copy_to(blob_id: str, out: BinaryIO) -> int:
    """Write a blob's bytes to ``out``, one chunk at a time; returns how many were written.

    NotFound when the blob is gone (or was deleted while it was being read).
    """
    try:
        with _bucket().open_download_stream(_object_id(blob_id)) as grid_out:
            copied = 0
            while chunk := grid_out.read(CHUNK_SIZE):
                out.write(chunk)
                copied += len(chunk)
    except (NoFile, CorruptGridFile):
        raise NotFound(f"The binary payload {blob_id} is gone: its message cannot be run.") from None
    return copied


def delete(blob_id: str) -> bool:
    """Delete a blob; False when it was already gone."""
    try:
        _bucket().delete(_object_id(blob_id))
    except (NoFile, NotFound):
        return False
    return True


def for_actor(actor_dbid: str) -> list[Blob]:
    """The actor's stored payloads."""
    return [Blob(str(f._id), int(f.length)) for f in _bucket().find({"filename": actor_dbid})]


def delete_for_actor(actor_dbid: str) -> int:
    """Delete every payload of an actor (its DELETE); returns how many were deleted."""
    deleted = sum(delete(blob.blob_id) for blob in for_actor(actor_dbid))
    if deleted:
        log.info("deleted the actor's binary payloads", extra={"actor_id": actor_dbid, "blobs": deleted})
    return deleted
