"""Who is calling: principals, roles and bearer tokens (levels on objects: ``permissions``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import AuthConfig
from .enums import Role
from .errors import AuthenticationError, PermissionDenied, ValidationError
from .tokens import decode_jwt, encode_jwt

__all__ = ["Principal", "Authenticator"]

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")
_TENANT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")


@dataclass(frozen=True)
class Principal:
    user: str
    tenant: str
    roles: frozenset[Role] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_privileged(self) -> bool:
        return bool({Role.ADMIN, Role.PRIVILEGED} & self.roles)


def _check_name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or set(value) - _NAME_CHARS:
        raise ValidationError(f"{kind} must be 1-64 characters of letters, digits, '-', '_', '.' or '@'")
    return value


def _check_tenant(value: object) -> str:
    # record keys are "<tenant>_<id>": a tenant with "_" could reach into another tenant's keys
    if not isinstance(value, str) or not value or len(value) > 64 or set(value) - _TENANT_CHARS:
        raise ValidationError("tenant must be 1-64 characters of letters, digits, '-' or '.'")
    return value


class Authenticator:
    """Mints and verifies the platform's bearer tokens with the secret generated at install."""

    def __init__(self, cfg: AuthConfig, secret: bytes) -> None:
        self.cfg = cfg
        self.secret = secret

    @classmethod
    def from_file(cls, cfg: AuthConfig) -> Authenticator:
        path = Path(cfg.jwt_secret_file)
        try:
            secret = path.read_text().strip().encode()
        except OSError as exc:
            raise AuthenticationError(f"cannot read the token secret {path}: {exc.strerror}") from exc
        if len(secret) < 32:
            raise AuthenticationError(f"the token secret in {path} is too short")
        return cls(cfg, secret)

    def mint(self, user: str, tenant: str, roles: list[Role], ttl: int | None = None) -> str:
        _check_name("user", user)
        _check_tenant(tenant)
        now = int(time.time())
        claims = {
            "iss": self.cfg.issuer,
            "sub": user,
            "tenant": tenant,
            "roles": [r.value for r in roles],
            "iat": now,
            "exp": now + (ttl if ttl is not None else self.cfg.token_ttl),
        }
        return encode_jwt(claims, self.secret)

    def identify(self, authorization: str | None) -> Principal:
        """Principal from an ``Authorization: Bearer <JWT>`` header value."""
        if not authorization:
            raise AuthenticationError("No credentials: send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Unsupported authorization scheme: use 'Bearer <token>'.")
        claims = decode_jwt(token.strip(), self.secret, self.cfg.issuer, self.cfg.leeway)
        try:
            user = _check_name("user", claims.get("sub"))
            tenant = _check_tenant(claims.get("tenant"))
            roles = frozenset(Role(r) for r in claims.get("roles", []))
        except (ValidationError, ValueError, TypeError) as exc:
            raise AuthenticationError(f"Invalid token claims: {exc}") from None
        if not roles:
            raise PermissionDenied("Not authorized -- missing required role.")
        return Principal(user=user, tenant=tenant, roles=roles)
