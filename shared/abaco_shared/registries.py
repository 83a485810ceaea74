"""Credentials for private image registries, read by the spawner when it pulls an image.

The file (``spawner.registry_auth_file``, default ``<data_dir>/secrets/registries.json``) has the
shape of Docker's own ``config.json``, so an operator can copy the one ``docker login`` wrote::

    {"auths": {"registry.example.org:5000": {"auth": "<base64 of user:password>"},
               "https://index.docker.io/v1/": {"username": "u", "password": "p"}}}

It is read at each pull (pulls are rare; a changed file needs no restart) and only by the spawner:
actor containers never see it. A missing file means no credentials. An unreadable or malformed
one fails the pull with a message that names the file, never its contents.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from .errors import DockerError

__all__ = ["DOCKER_HUB", "registry_of", "credentials_for"]

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


def registry_of(image: str) -> str:
    """The registry an image reference names (Docker's rule: a first component with a dot, a
    colon or equal to ``localhost`` is a registry host; otherwise Docker Hub)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return DOCKER_HUB if first in _HUB_ALIASES else first
    return DOCKER_HUB


def _host_of(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://h:5000`` -> ``h:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _entry_credentials(entry: Any, path: Path, key: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise DockerError(f"registry credentials in {path}: the entry for {key!r} is not an object")
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep, user, password = "", "", ""
        if not sep or not user:
            raise DockerError(f"registry credentials in {path}: 'auth' of {key!r} is not base64 of user:password")
        return {"username": user, "password": password}
    name, secret = entry.get("username"), entry.get("password")
    if not isinstance(name, str) or not isinstance(secret, str) or not name:
        raise DockerError(f"registry credentials in {path}: {key!r} needs 'auth' or 'username' and 'password'")
    return {"username": name, "password": secret}


def credentials_for(image: str, path: str | Path) -> dict[str, str] | None:
    """``{"username", "password"}`` for the registry of ``image``, or None when the file is
    missing (or not configured: ``""``) or names no credentials for it."""
    if not str(path):
        return None
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DockerError(f"cannot read registry credentials {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise DockerError(f"registry credentials in {path} are not valid JSON") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise DockerError(f"registry credentials in {path}: expected an object with 'auths'")
    wanted = registry_of(image)
    for key, entry in auths.items():
        if _host_of(str(key)) == wanted:
            return _entry_credentials(entry, path, str(key))
    return None
