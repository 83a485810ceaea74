"""Webhook signatures: each actor's secret, the signature of a POST, and its check.

Every webhook POST carries ``X-Abaco-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact
request body keyed with the actor's ``webhook_secret``. No separate timestamp is signed: the body
holds ``event_time_utc``, so a receiver that checks the signature can also refuse stale events
(replays); a retried POST sends the same bytes, so the signature also names one delivery.

An actor's secret is derived, never stored: ``HMAC-SHA256(platform key, "abaco-webhook:" + actor
key)`` in hex, where the platform key is ``events.webhook_key`` or the file
``events.webhook_key_file`` (made, 32 random bytes in hex, mode 0600, the first time it is needed).
Users with UPDATE on the actor see it in the actor's view as ``webhook_secret``; changing the
platform key changes every secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from pathlib import Path

from . import permissions
from .auth import Principal
from .config import EventsConfig
from .enums import Permission
from .errors import ConfigError
from .models import Actor

__all__ = [
    "SIGNATURE_HEADER",
    "EVENT_HEADER",
    "WebhookKey",
    "secret_for",
    "signature",
    "verify",
    "secret_fields",
]

SIGNATURE_HEADER = "X-Abaco-Signature"
EVENT_HEADER = "X-Abaco-Event"  # the event_type, for routing without parsing the body
log = logging.getLogger(__name__)

_PREFIX = "sha256="
_KEY_MIN = 32


class WebhookKey:
    """The platform key the webhook secrets derive from, read (or made) once, when first needed."""

    def __init__(self, cfg: EventsConfig) -> None:
        self.cfg = cfg
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def value(self) -> bytes:
        """The key; ConfigError when it is too short, or its file cannot be read nor made."""
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._load()
        return self._value

    def _load(self) -> bytes:
        if not self.cfg.webhook_key:
            return _read_or_make(Path(self.cfg.webhook_key_file))
        if len(self.cfg.webhook_key) < _KEY_MIN:
            raise ConfigError(f"config events.webhook_key must be at least {_KEY_MIN} characters")
        return self.cfg.webhook_key.encode()


def _read_or_make(path: Path) -> bytes:
    """The key in ``path``; if there is none, a new one, written so that concurrent makers
    (the registration API and the events agent) all end up reading the same key."""
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)  # atomic, and never replaces a key another process made first
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read or make the webhook key {path}: {exc}") from exc
    if len(key) < _KEY_MIN:
        raise ConfigError(f"the webhook key in {path} is shorter than {_KEY_MIN} characters")
    return key.encode()


def secret_for(key: bytes, actor_dbid: str) -> str:
    """The actor's webhook secret (64 hex characters)."""
    return hmac.new(key, f"abaco-webhook:{actor_dbid}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes) -> str:
    """The ``X-Abaco-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: True when ``header`` is the signature of ``body`` (constant time)."""
    return hmac.compare_digest(signature(secret, body), header.strip())


def secret_fields(actor: Actor, who: Principal, key: WebhookKey) -> dict[str, str]:
    """``{"webhook_secret": ...}`` for a caller with UPDATE on an actor that has a webhook, else {}."""
    if not actor.webhook or permissions.level_of(who, actor.db_id) < Permission.UPDATE:
        return {}
    try:
        return {"webhook_secret": secret_for(key.value(), actor.db_id)}
    except ConfigError as exc:  # the actor is still shown; its webhooks cannot be signed either
        log.error("no webhook secret to show: %s", exc, extra={"actor_id": actor.db_id})
        return {}
