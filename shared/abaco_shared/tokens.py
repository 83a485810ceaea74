"""JSON Web Tokens (JWS compact form), HS256 or RS256: just what Abaco needs.

``decode_jwt`` checks, in order: the shape, the header's ``alg`` against the key's own algorithm
(so ``none`` and algorithm confusion are refused before any signature is computed), the
signature, the issuer (unless ``issuer`` is None), then ``exp``, ``nbf`` and ``iat`` with a
clock-skew ``leeway`` capped at ``MAX_LEEWAY`` seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

from .config import MAX_LEEWAY
from .errors import AuthenticationError
from .signing import HmacKey, SigningKey

__all__ = ["encode_jwt", "decode_jwt", "peek_claims"]

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not _SEGMENT.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate member")
    return out


def _json(segment: str) -> Any:
    return json.loads(_unb64(segment), object_pairs_hook=_unique_keys)


def _as_key(key: bytes | SigningKey) -> SigningKey:
    return HmacKey(key) if isinstance(key, bytes) else key


def encode_jwt(claims: dict[str, Any], key: bytes | SigningKey) -> str:
    """A signed token; ``key`` is an HS256 secret (bytes) or a SigningKey that can sign."""
    signer = _as_key(key)
    header = _b64(json.dumps({"alg": signer.alg, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = signer.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{_b64(signature)}"


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationError("Invalid token: not a JWT.")
    return parts[0], parts[1], parts[2]


def peek_claims(token: str) -> dict[str, Any]:
    """The claims of a token, NOT verified: only to choose the key that will verify it."""
    _, payload, _ = _split(token)
    try:
        claims = _json(payload)
    except (ValueError, TypeError, binascii.Error):
        raise AuthenticationError("Invalid token: cannot decode it.") from None
    if not isinstance(claims, dict):
        raise AuthenticationError("Invalid token: claims must be an object.")
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AuthenticationError(f"Invalid token: '{name}' must be a number.")
    return float(value)


def decode_jwt(
    token: str, key: bytes | SigningKey, issuer: str | None, leeway: int = 30, require_exp: bool = True
) -> dict[str, Any]:
    """Verify algorithm, signature, issuer and time claims; return the claims."""
    verifier = _as_key(key)
    head, payload, sig = _split(token)
    try:
        header = _json(head)
        claims = _json(payload)
        signature = _unb64(sig)
    except (ValueError, TypeError, binascii.Error):
        raise AuthenticationError("Invalid token: cannot decode it.") from None
    if not isinstance(header, dict) or header.get("alg") != verifier.alg:
        raise AuthenticationError(f"Invalid token: only {verifier.alg} is accepted.")
    if "crit" in header:  # no JWS extension is understood here (RFC 7515 4.1.11)
        raise AuthenticationError("Invalid token: unsupported critical header.")
    if not verifier.verify(f"{head}.{payload}".encode(), signature):
        raise AuthenticationError("Invalid token: bad signature.")
    if not isinstance(claims, dict):
        raise AuthenticationError("Invalid token: claims must be an object.")
    if issuer is not None and claims.get("iss") != issuer:
        raise AuthenticationError("Invalid token: wrong issuer.")
    skew = min(max(leeway, 0), MAX_LEEWAY)
    now = time.time()
    exp = _number(claims, "exp")
    if exp is None and require_exp:
        raise AuthenticationError("Invalid token: no expiry.")
    if exp is not None and exp + skew < now:
        raise AuthenticationError("Invalid token: expired.")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf - skew > now:
        raise AuthenticationError("Invalid token: not valid yet.")
    iat = _number(claims, "iat")
    if iat is not None and iat - skew > now:
        raise AuthenticationError("Invalid token: issued in the future.")
    return claims
