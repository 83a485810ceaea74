"""GridFS (``abaco_shared.blobs``) over the mongomock database of ``use_mongomock``, for unit tests."""

from __future__ import annotations

import types

import mongoengine

__all__ = ["enable_mongomock_gridfs"]


def enable_mongomock_gridfs() -> None:
    """Let pymongo's GridFS run on mongoengine's current (mongomock) connection.

    mongomock's own switch lets GridFS accept its collections; GridFS also reads the client's
    ``options.timeout``, which a mongomock client does not have (it answers any attribute with a
    database), so the client gets one.
    """
    import mongomock.gridfs

    mongomock.gridfs.enable_gridfs_integration()
    mongoengine.get_connection().options = types.SimpleNamespace(timeout=None)
