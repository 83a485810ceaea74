"""The images a spawner's workers need: whether one must be pulled (the pull policy), and the
pull itself: one at a time per image on this host, ``pull_attempts`` tries, each logged in with
the credentials configured for the image's registry."""

from __future__ import annotations

import logging
import threading

from abaco_shared import registries
from abaco_shared.config import SpawnerConfig
from abaco_shared.containers import DockerApi
from abaco_shared.enums import PullPolicy
from abaco_shared.errors import DockerError

__all__ = ["ImagePuller"]

log = logging.getLogger(__name__)


class ImagePuller:
    def __init__(self, cfg: SpawnerConfig, docker: DockerApi, stop: threading.Event) -> None:
        self.cfg = cfg
        self.docker = docker
        self.stop = stop  # cuts the pause between tries short
        self._image_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def must_pull(self, image: str) -> bool:
        policy = PullPolicy(self.cfg.pull_policy)
        if policy is PullPolicy.ALWAYS:
            return True
        try:
            return not self.docker.image_present(image)
        except DockerError as exc:
            log.warning("cannot inspect image %s, pulling it: %s", image, exc)
            return True

    def pull(self, image: str) -> None:
        """One pull of ``image`` at a time on this host (others wait for it), tried
        ``pull_attempts`` times with a pause between tries."""
        if PullPolicy(self.cfg.pull_policy) is PullPolicy.NEVER:
            raise DockerError(f"image {image} is not present and the pull policy is 'never'")
        with self._locks_guard:
            lock = self._image_locks.setdefault(image, threading.Lock())
        waited = not lock.acquire(blocking=False)
        if waited:
            lock.acquire()
        try:
            if waited and self.docker.image_present(image):
                return  # pulled for another worker's request meanwhile
            attempts = max(1, self.cfg.pull_attempts)
            for attempt in range(1, attempts + 1):
                try:
                    self.docker.pull(image, registries.credentials_for(image, self.cfg.registry_auth_file))
                    return
                except DockerError as exc:
                    if attempt == attempts:
                        raise
                    log.warning("pull of %s failed (try %s of %s): %s", image, attempt, attempts, exc)
                    self.stop.wait(self.cfg.pull_backoff * attempt)
        finally:
            lock.release()
