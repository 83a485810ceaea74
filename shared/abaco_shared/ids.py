"""Hashid-style identifiers, as the original Abaco uses for actors, executions and workers.

An id is 70 random bits written in a salted base-62 alphabet (12 characters), followed by one
check character. (Not ``uuid1().int >> 64``: those bits are only uuid1's clock, which two
processes that forked from one parent, or two hosts, can read in the same tick.)
The check character lets ``is_id`` tell a generated id from an alias or any other user string: this is
how aliases are told apart from ids (an alias must never pass ``is_id``).
"""

from __future__ import annotations

import hashlib
import random
import secrets

__all__ = ["new_id", "is_id"]

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


def new_id() -> str:
    """Return a new, unique, URL-safe id of about 13 alphanumeric characters."""
    body = _encode(secrets.randbits(_BITS))
    return body + _check_char(body)


def is_id(value: str) -> bool:
    """True when ``value`` is an id made by :func:`new_id` (and so cannot be an alias)."""
    if not isinstance(value, str) or len(value) < _MIN_LEN + 1 or len(value) > 24:
        return False
    if any(c not in _INDEX for c in value):
        return False
    return _check_char(value[:-1]) == value[-1]
