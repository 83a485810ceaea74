"""Hashid-style identifiers, as the original Abaco uses for actors, executions and workers.

An id is 70 random bits written in a salted base-62 alphabet (12 characters), followed by one
check character. (Not ``uuid1().int >> 64``: those bits are only uuid1's clock, which two
processes that forked from one parent, or two hosts, can read in the same tick.)
The check character lets ``is_id`` tell a generated id from an alias or any other user string: this is
how aliases are told apart from ids (an alias must never pass ``is_id``).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading

__all__ = ["new_id", "is_id", "random_hex"]

_BASE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_SALT = "abaco-ids-v1"
_ALPHABET = "".join(random.Random(hashlib.sha256(_SALT.encode()).digest()).sample(_BASE, len(_BASE)))
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_MIN_LEN = 12
_BITS = 70  # 62**12 > 2**70: always 12 characters


def _check_char(body: str) -> str:
    digest = hashlib.blake2s((_SALT + body).encode(), digest_size=4).digest()
    return _ALPHABET[int.from_bytes(digest, "big") % len(_ALPHABET)]


def _encode(number: int) -> str:
    chars = []
    while number:
        number, rem = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rem])
    body = "".join(reversed(chars)) or _ALPHABET[0]
    return body.rjust(_MIN_LEN, _ALPHABET[0])


class _Entropy:
    """Random bytes from the operating system's generator (``os.urandom``, as ``secrets`` uses),
    read 4 KiB at a time: a read is a system call, which lets the GIL go, and every accepted
    message needs an execution id and every request a request id. Each byte is given out once;
    a forked child reads its own (it never uses its parent's). For identifiers, not for secrets
    such as tokens or passwords, which never sit in a buffer (they use ``secrets``)."""

    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._buf = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._pid != os.getpid() or self._pos + n > len(self._buf):
                self._pid, self._buf, self._pos = os.getpid(), os.urandom(max(self.SIZE, n)), 0
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
            return out


_ENTROPY = _Entropy()


def random_hex(nbytes: int = 16) -> str:
    """``nbytes`` random bytes as hex text (a request id: 32 characters, as a uuid4's hex)."""
    return _ENTROPY.take(nbytes).hex()


def new_id() -> str:
    """Return a new, unique, URL-safe id of about 13 alphanumeric characters."""
    body = _encode(int.from_bytes(_ENTROPY.take(9), "big") >> (72 - _BITS))
    return body + _check_char(body)


def is_id(value: str) -> bool:
    """True when ``value`` is an id made by :func:`new_id` (and so cannot be an alias)."""
    if not isinstance(value, str) or len(value) < _MIN_LEN + 1 or len(value) > 24:
        return False
    if any(c not in _INDEX for c in value):
        return False
    return _check_char(value[:-1]) == value[-1]
