"""A binary message's payload as a read-only file in its container (reference 2, "Binary FIFO").

The original wrote the payload into a FIFO before starting the container, which only worked while
it fitted the pipe buffer (64 KiB). Here the payload is streamed from the blob store into a host
file, bind-mounted read-only at ``/_abaco_binary_data``: the same "open it and read until EOF"
contract, an O_NONBLOCK reader included, for any size.

    <binary_dir>/               0755
      <worker_id>/              0711 (removed with its last file)
        <execution_id>          0444: the container's user (65534) reads it, nobody writes it

The file is removed when the container has ended; the blob is deleted once the execution is
COMPLETE, and kept when it ends without running (its message can be re-sent). A message that is
not binary costs nothing here: every method returns at once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from pymongo.errors import PyMongoError

from abaco_shared import blobs
from abaco_shared.config import Config
from abaco_shared.containers import ContainerSpec
from abaco_shared.errors import NotFound, ValidationError
from abaco_shared.messages import MailboxMessage

__all__ = ["BinaryPayloads", "CONTAINER_PATH"]

log = logging.getLogger(__name__)

CONTAINER_PATH = "/_abaco_binary_data"
DEFAULT_DIR = "/var/lib/abaco/binary"  # for a runner built without a config (tests)


class BinaryPayloads:
    """Stages the payloads of one worker's binary messages as files for their containers."""

    def __init__(self, worker_id: str, root: Path = Path(DEFAULT_DIR)) -> None:
        self.root = root
        self.dir = root / worker_id

    @classmethod
    def from_config(cls, cfg: Config, worker_id: str) -> BinaryPayloads:
        """``[worker] binary_dir``, by default ``<data_dir>/binary``."""
        return cls(worker_id, Path(cfg.worker.binary_dir or cfg.data_path / "binary"))

    def path_for(self, execution_id: str) -> Path:
        return self.dir / execution_id

    def mount(self, spec: ContainerSpec, msg: MailboxMessage) -> ContainerSpec:
        """``spec`` with a binary message's payload written to its file and bind-mounted
        read-only (``spec`` itself for other messages). A ValidationError when the payload is gone
        (retrying cannot bring it back); a store or disk failure propagates, to be retried."""
        if not msg.binary_ref:
            return spec
        path = self._write(msg)
        return dataclasses.replace(spec, binds=[*spec.binds, f"{path}:{CONTAINER_PATH}:ro"])

    def _write(self, msg: MailboxMessage) -> Path:
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.dir.mkdir(mode=0o711, exist_ok=True)
        os.chmod(self.dir, 0o711)  # mkdir's mode is filtered by the umask
        path = self.path_for(msg.execution_id)
        path.unlink(missing_ok=True)  # a run before this one that did not clean up
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        try:
            os.fchmod(fd, 0o444)
            with os.fdopen(fd, "wb") as out:
                size = blobs.copy_to(msg.binary_ref, out)
        except BaseException as exc:
            path.unlink(missing_ok=True)
            if isinstance(exc, NotFound):
                raise ValidationError(str(exc)) from None
            raise
        extra = {"worker_id": self.dir.name, "execution_id": msg.execution_id, "bytes": size}
        log.info("binary payload staged", extra=extra)
        return path

    def release(self, msg: MailboxMessage) -> None:
        """Remove the message's file (its container has ended), and the worker's directory with
        its last file."""
        if not msg.binary_ref:
            return
        self.path_for(msg.execution_id).unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:  # another file is still there, or it is already gone
            pass

    def spent(self, msg: MailboxMessage) -> None:
        """Delete the payload of a message whose execution is COMPLETE. A failure is only logged:
        the blob then goes with its actor."""
        if not msg.binary_ref:
            return
        try:
            blobs.delete(msg.binary_ref)
        except PyMongoError as exc:
            log.warning("could not delete a binary payload: %s", exc, extra={"execution_id": msg.execution_id})
