"""HS256 JSON Web Tokens: just what Abaco needs, with expiry and issuer enforced."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from .errors import AuthenticationError

__all__ = ["encode_jwt", "decode_jwt"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(claims: dict[str, Any], secret: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def decode_jwt(token: str, secret: bytes, issuer: str, leeway: int = 30) -> dict[str, Any]:
    """Verify signature, algorithm, issuer and expiry; return the claims."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthenticationError("Invalid token: not a JWT.")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, TypeError):
        raise AuthenticationError("Invalid token: cannot decode it.") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise AuthenticationError("Invalid token: only HS256 is accepted.")
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise AuthenticationError("Invalid token: bad signature.")
    if not isinstance(claims, dict):
        raise AuthenticationError("Invalid token: claims must be an object.")
    if claims.get("iss") != issuer:
        raise AuthenticationError("Invalid token: wrong issuer.")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or exp + leeway < time.time():
        raise AuthenticationError("Invalid token: expired.")
    return claims
