"""Token signing keys: HS256 secrets and RS256 keys (``cryptography``), and loading them from files.

A key knows its one algorithm: a token is verified only with the algorithm of the key chosen for
it, never with the one its header names, so ``alg: none`` and algorithm confusion (an HS256 token
"signed" with an RS256 tenant's public key text) have nothing to work with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .config import TOKEN_ALGORITHMS as ALGORITHMS
from .errors import ConfigError, ValidationError

__all__ = ["ALGORITHMS", "MIN_SECRET_BYTES", "SigningKey", "HmacKey", "RsaKey", "load_key_file", "read_secret"]

MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048


class SigningKey(Protocol):
    """What ``tokens`` needs of a key: its algorithm, a signature check, and signing if it can."""

    @property
    def alg(self) -> str: ...

    @property
    def can_sign(self) -> bool: ...

    def sign(self, data: bytes) -> bytes: ...

    def verify(self, data: bytes, signature: bytes) -> bool: ...


class HmacKey:
    """An HS256 shared secret: signs and verifies."""

    alg = "HS256"
    can_sign = True

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()

    def verify(self, data: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(data), signature)

    def __repr__(self) -> str:  # never the secret
        return "HmacKey(HS256)"


class RsaKey:
    """An RS256 key (PKCS#1 v1.5, SHA-256): a private key signs and verifies, a public key verifies."""

    alg = "RS256"

    def __init__(self, public: rsa.RSAPublicKey, private: rsa.RSAPrivateKey | None = None) -> None:
        if public.key_size < MIN_RSA_BITS:
            raise ValidationError(f"RSA keys must have at least {MIN_RSA_BITS} bits, not {public.key_size}")
        self.public = public
        self._private = private

    @classmethod
    def from_private(cls, private: rsa.RSAPrivateKey) -> RsaKey:
        return cls(private.public_key(), private)

    @classmethod
    def from_bytes(cls, data: bytes) -> RsaKey:
        """A PEM private key, public key or certificate, or a bare base64 DER public key
        (the v2 ``web.apim_public_key`` form)."""
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                key: object = x509.load_pem_x509_certificate(data).public_key()
            elif b"PRIVATE KEY-----" in data:
                key = serialization.load_pem_private_key(data, password=None)
            elif b"-----BEGIN" in data:
                key = serialization.load_pem_public_key(data)
            else:
                key = serialization.load_der_public_key(base64.b64decode(b"".join(data.split()), validate=True))
        except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error) as exc:
            raise ValidationError(f"not a PEM or base64 DER key ({type(exc).__name__})") from None
        if isinstance(key, rsa.RSAPrivateKey):
            return cls.from_private(key)
        if isinstance(key, rsa.RSAPublicKey):
            return cls(key)
        raise ValidationError("an RS256 key must be an RSA key")

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    def sign(self, data: bytes) -> bytes:
        if self._private is None:
            raise ValidationError("this RS256 key is a public key: it verifies tokens but cannot sign them")
        return self._private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self.public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    def public_pem(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def __repr__(self) -> str:
        return f"RsaKey(RS256, {'private' if self.can_sign else 'public'})"


def read_secret(path: str | Path) -> bytes:
    """An HS256 secret file's content (stripped); ConfigError if unreadable or shorter than 32 bytes."""
    try:
        secret = Path(path).read_text().strip().encode()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the token secret {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"the token secret in {path} is too short (at least {MIN_SECRET_BYTES} bytes)")
    return secret


def load_key_file(alg: str, path: str | Path) -> SigningKey:
    """The key in ``path`` for ``alg``: HS256 reads a secret, RS256 a PEM (or base64 DER) RSA key."""
    if alg == "HS256":
        return HmacKey(read_secret(path))
    if alg != "RS256":
        raise ConfigError(f"unknown token algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the RS256 key {path}: {exc.strerror}") from None
    try:
        return RsaKey.from_bytes(data)
    except ValidationError as exc:
        raise ConfigError(f"the RS256 key {path}: {exc}") from None
