"""Who is calling: principals, roles and tokens (levels on objects: ``permissions``).

``Authenticator.identify_request`` takes the first credential present (a bad one is a 401, it
never falls through to the next):

1. ``Authorization: Bearer <JWT>``: the platform's tokens (claims ``iss``, ``sub``, ``tenant``,
   ``roles``, ``exp``), verified with the tenant's key from ``auth.tenant_keys`` (HS256 or RS256)
   or, for any other tenant, the default HS256 secret;
2. ``X-Tapis-Token: <JWT>`` (v3 clients): the same token, verified the same way;
3. ``X-Jwt-Assertion-<TENANT>: <JWT>`` (v2, from WSO2 APIM): RS256 with ``auth.v2_public_key_file``;
   the tenant is the header's suffix, the user and the roles come from the configured claims.

Tenant ids are case-insensitive: wherever they come from (a claim, a header suffix, the ``tenant``
header, the config) they are lower-cased, so ``X-Jwt-Assertion-DEV-DEVELOP`` and a token for
``dev-develop`` are the same tenant. Role names are mapped to ``Role`` through the config's
``*_roles`` lists; a caller with none of them gets 403.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import AuthConfig, Config
from .enums import Permission, Role
from .errors import AuthenticationError, PermissionDenied, ValidationError
from .signing import HmacKey, SigningKey, load_key_file, read_secret
from .tokens import decode_jwt, encode_jwt, peek_claims

__all__ = ["Principal", "NonceScope", "Authenticator", "ANONYMOUS", "RESERVED_USERS"]

log = logging.getLogger(__name__)

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")
_TENANT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
V2_HEADER_PREFIX = "x-jwt-assertion-"
ANONYMOUS = "anonymous"  # the caller when access_control is "none"
# never a caller: ABACO_WORLD is the "everyone" grantee of permissions (permissions.WORLD), and
# "anonymous" the no-authentication user; compared case-insensitively
RESERVED_USERS = frozenset({"abaco_world", ANONYMOUS})
MISSING_ROLE = "Not authorized -- missing required role."
VERIFIED_FOR = 300.0  # seconds a verified token is remembered (never past its expiry)
VERIFIED_MAX = 10_000  # remembered tokens per process; more start the memory again


@dataclass(frozen=True)
class NonceScope:
    """What a caller authenticated by a nonce may do: at most ``level``, on these object keys only."""

    nonce_id: str
    objects: frozenset[str]
    level: Permission


@dataclass(frozen=True)
class Principal:
    user: str
    tenant: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    scope: NonceScope | None = None  # set when the request was authorised by ``?x-nonce`` (nonces)

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


def _check_user(value: object) -> str:
    user = _check_name("user", value)
    if user.lower() in RESERVED_USERS:
        raise ValidationError(f"the user name {user!r} is reserved")
    return user


def _check_tenant(value: object) -> str:
    """A tenant id in its canonical (lower-case) form."""
    # record keys are "<tenant>_<id>": a tenant with "_" could reach into another tenant's keys
    if not isinstance(value, str) or not value or len(value) > 64 or set(value) - _TENANT_CHARS:
        raise ValidationError("tenant must be 1-64 characters of letters, digits, '-' or '.'")
    return value.lower()


def role_names(cfg: AuthConfig) -> dict[str, Role]:
    """Role name in a token -> Role, from the config's lists."""
    levels = (
        (Role.ADMIN, cfg.admin_roles),
        (Role.PRIVILEGED, cfg.privileged_roles),
        (Role.USER, cfg.user_roles),
        (Role.LIMITED, cfg.limited_roles),
    )
    return {name: role for role, names in levels for name in names}


def _claims_error(exc: Exception) -> AuthenticationError:
    return AuthenticationError(f"Invalid token claims: {exc}")


class Authenticator:
    """Mints and verifies tokens: the default HS256 secret, per-tenant keys, and the v2 APIM key."""

    def __init__(
        self,
        cfg: AuthConfig,
        secret: bytes,
        *,
        tenant_keys: Mapping[str, SigningKey] | None = None,
        v2_key: SigningKey | None = None,
        default_tenant: str = "dev",
    ) -> None:
        self.cfg = cfg
        self.secret = secret
        self.default_key: SigningKey = HmacKey(secret)
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (caller, use until)
        self.tenant_keys = {_check_tenant(t): k for t, k in (tenant_keys or {}).items()}
        if v2_key is not None and v2_key.alg != "RS256":
            raise ValidationError("the v2 (APIM) key must be an RS256 key")
        self.v2_key = v2_key
        self.default_tenant = _check_tenant(default_tenant)
        self.roles = role_names(cfg)

    @classmethod
    def from_file(cls, cfg: AuthConfig, default_tenant: str = "dev") -> Authenticator:
        """Read the default secret, every ``tenant_keys`` file and the v2 key (when its file exists)."""
        secret = read_secret(cfg.jwt_secret_file)
        keys = {k.tenant: load_key_file(k.alg, k.path) for k in cfg.tenant_key_list()}
        v2_key = None
        if cfg.v2_public_key_file and Path(cfg.v2_public_key_file).exists():
            v2_key = load_key_file("RS256", cfg.v2_public_key_file)
        else:
            log.info("v2 X-Jwt-Assertion headers are off: no APIM key at %s", cfg.v2_public_key_file)
        return cls(cfg, secret, tenant_keys=keys, v2_key=v2_key, default_tenant=default_tenant)

    @classmethod
    def from_config(cls, cfg: Config) -> Authenticator:
        return cls.from_file(cfg.auth, default_tenant=cfg.general.default_tenant)

    def key_for(self, tenant: str) -> SigningKey:
        return self.tenant_keys.get(tenant.lower(), self.default_key)

    # ------------------------------------------------------------------------------ minting
    def mint(
        self,
        user: str,
        tenant: str,
        roles: list[Role],
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A bearer token signed with the tenant's key (which must be able to sign). ``extra``
        claims (e.g. the actor an actor token was minted for) never replace the standard ones."""
        _check_user(user)
        tenant = _check_tenant(tenant)
        key = self.key_for(tenant)
        if not key.can_sign:
            raise ValidationError(f"tenant {tenant!r} has only a public key here: its tokens are minted elsewhere")
        lifetime = ttl if ttl is not None else self.cfg.token_ttl
        if lifetime < 1:
            raise ValidationError("a token's lifetime must be at least 1 second")
        now = int(time.time())
        claims = {
            **(extra or {}),
            "iss": self.cfg.issuer,
            "sub": user,
            "tenant": tenant,
            "roles": [r.value for r in roles],
            "iat": now,
            "exp": now + lifetime,
        }
        return encode_jwt(claims, key)

    # ------------------------------------------------------------------------------ verifying
    def has_credential(self, headers: Mapping[str, str]) -> bool:
        """Whether a request carries a credential of its own (then a ``?x-nonce`` is not used)."""
        if self.cfg.access_control == "none":
            return True
        for name, value in headers.items():
            lowered = name.lower()
            if (value or "").strip() and (
                lowered in ("authorization", "x-tapis-token") or lowered.startswith(V2_HEADER_PREFIX)
            ):
                return True
        return False

    def identify_request(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a request, from its headers (names are case-insensitive)."""
        lowered = {name.lower(): value for name, value in headers.items()}
        if self.cfg.access_control == "none":
            tenant = (lowered.get("tenant") or "").strip() or self.default_tenant
            return Principal(ANONYMOUS, _check_tenant(tenant), frozenset({Role.ADMIN}))
        if (lowered.get("authorization") or "").strip():
            return self.identify(lowered["authorization"])
        if token := (lowered.get("x-tapis-token") or "").strip():
            return self.identify_token(token)
        assertions = [(name, value) for name, value in lowered.items() if name.startswith(V2_HEADER_PREFIX)]
        if len(assertions) > 1:
            raise AuthenticationError("Send one X-Jwt-Assertion-<tenant> header, not several.")
        if assertions:
            name, value = assertions[0]
            return self.identify_v2(name[len(V2_HEADER_PREFIX) :], value)
        raise AuthenticationError(
            "No credentials: send 'Authorization: Bearer <token>' (or X-Tapis-Token, or X-Jwt-Assertion-<tenant>)."
        )

    def identify(self, authorization: str | None) -> Principal:
        """Principal from an ``Authorization: Bearer <JWT>`` header value."""
        if not authorization:
            raise AuthenticationError("No credentials: send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Unsupported authorization scheme: use 'Bearer <token>'.")
        return self.identify_token(token.strip())

    def identify_token(self, token: str) -> Principal:
        """Principal from one of the platform's tokens (bearer or X-Tapis-Token).

        A token verified once is remembered until it expires (at most ``VERIFIED_FOR`` seconds):
        the same string always carries the same signed claims, and keys do not change while
        this object lives, so checking its signature again would only cost CPU."""
        now = time.time()
        known = self._verified.get(token)
        if known is not None and now < known[1]:
            return known[0]
        principal, exp = self._verify_token(token)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, min(exp, now + VERIFIED_FOR))
        return principal

    def _verify_token(self, token: str) -> tuple[Principal, float]:
        try:  # the tenant chooses the key; the claim is signed, so it is checked by that key
            tenant = _check_tenant(peek_claims(token).get("tenant"))
        except ValidationError as exc:
            raise _claims_error(exc) from None
        claims = decode_jwt(token, self.key_for(tenant), self.cfg.issuer, self.cfg.leeway)
        try:
            user = _check_user(claims.get("sub"))
        except ValidationError as exc:
            raise _claims_error(exc) from None
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise AuthenticationError("Invalid token claims: roles must be a list.")
        return Principal(user=user, tenant=tenant, roles=self._map_roles(roles)), float(claims["exp"])

    def identify_v2(self, tenant_suffix: str, assertion: str) -> Principal:
        """Principal from a v2 ``X-Jwt-Assertion-<TENANT>`` header (suffix and value)."""
        if self.v2_key is None:
            raise AuthenticationError("X-Jwt-Assertion headers are not accepted here: no APIM key is configured.")
        try:
            # WSGI turns '-' in header names into '_'; tenants never contain '_'
            tenant = _check_tenant(tenant_suffix.replace("_", "-"))
        except ValidationError as exc:
            raise AuthenticationError(f"Invalid X-Jwt-Assertion header: {exc}") from None
        claims = decode_jwt(assertion.strip(), self.v2_key, None, self.cfg.leeway, require_exp=False)
        enduser = claims.get(self.cfg.v2_user_claim)
        if not isinstance(enduser, str):
            raise AuthenticationError(f"Invalid token claims: no user in {self.cfg.v2_user_claim!r}.")
        try:
            user = _check_user(enduser.split("@", 1)[0])
        except ValidationError as exc:
            raise _claims_error(exc) from None
        raw = claims.get(self.cfg.v2_roles_claim, "")
        if isinstance(raw, str):
            names: list[Any] = raw.split(",")
        elif isinstance(raw, list):  # APIM sends a list when it is configured for multi-valued claims
            names = raw
        else:
            raise AuthenticationError(f"Invalid token claims: {self.cfg.v2_roles_claim!r} must be a string.")
        return Principal(user=user, tenant=tenant, roles=self._map_roles(names))

    def _map_roles(self, names: Iterable[Any]) -> frozenset[Role]:
        roles = frozenset(self.roles[n.strip()] for n in names if isinstance(n, str) and n.strip() in self.roles)
        if not roles:
            raise PermissionDenied(MISSING_ROLE)
        return roles
