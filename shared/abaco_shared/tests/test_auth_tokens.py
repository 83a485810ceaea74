"""Tokens: per-tenant HS256/RS256 keys, refused tokens, roles, reserved names, v2 and v3 headers,
access_control = "none"."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from wsgiref.util import setup_testing_defaults

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from abaco_shared import admin_cli
from abaco_shared.auth import Authenticator
from abaco_shared.config import AuthConfig, load_config
from abaco_shared.enums import Role
from abaco_shared.errors import AuthenticationError, ConfigError, PermissionDenied, ValidationError
from abaco_shared.http import AbacoApp, ok, principal
from abaco_shared.signing import HmacKey, RsaKey, load_key_file
from abaco_shared.tokens import decode_jwt, encode_jwt

DEFAULT = b"d" * 32
TENANT_SECRET = b"t" * 32
ENDUSER = "http://wso2.org/claims/enduser"
ROLE = "http://wso2.org/claims/role"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def auth(rsa_private, other_private) -> Authenticator:
    """dev: default secret; hs: own HS256 secret; rs: RS256 private key; pub: RS256 public key only;
    v2 assertions verified with rsa_private's public key."""
    return Authenticator(
        AuthConfig(),
        DEFAULT,
        tenant_keys={
            "hs": HmacKey(TENANT_SECRET),
            "RS": RsaKey.from_private(rsa_private),
            "pub": RsaKey(other_private.public_key()),
        },
        v2_key=RsaKey(rsa_private.public_key()),
    )


def _claims(**over) -> dict:
    now = int(time.time())
    return {"iss": "abaco", "sub": "alice", "tenant": "dev", "roles": ["user"], "iat": now, "exp": now + 60, **over}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------- keys per tenant


def test_hs256_per_tenant_keys(auth):
    who = auth.identify_request(_bearer(auth.mint("alice", "hs", [Role.USER])))
    assert (who.user, who.tenant, who.roles) == ("alice", "hs", frozenset({Role.USER}))
    # a token for "hs" signed with the default secret (or the reverse) is refused
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.identify_request(_bearer(encode_jwt(_claims(tenant="hs"), DEFAULT)))
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.identify_request(_bearer(encode_jwt(_claims(tenant="dev"), TENANT_SECRET)))
    # tenants without an entry use the default secret
    assert auth.identify_request(_bearer(encode_jwt(_claims(tenant="other"), DEFAULT))).tenant == "other"


def test_rs256_tenant_mints_and_verifies(auth, rsa_private, other_private):
    token = auth.mint("bob", "rs", [Role.PRIVILEGED])
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "RS256"
    who = auth.identify_request(_bearer(token))
    assert (who.user, who.tenant, who.is_privileged, who.is_admin) == ("bob", "rs", True, False)
    # signed by a key that is not the tenant's
    forged = encode_jwt(_claims(tenant="rs"), RsaKey.from_private(other_private))
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.identify_request(_bearer(forged))
    # a public-key tenant verifies tokens signed elsewhere, and cannot mint
    elsewhere = encode_jwt(_claims(tenant="pub", sub="carol"), RsaKey.from_private(other_private))
    assert auth.identify_request(_bearer(elsewhere)).user == "carol"
    with pytest.raises(ValidationError, match="public key"):
        auth.mint("carol", "pub", [Role.USER])


def test_tenant_ids_are_case_insensitive(auth):
    token = auth.mint("alice", "RS", [Role.USER])
    assert auth.identify_request(_bearer(token)).tenant == "rs"
    assert auth.identify_request(_bearer(encode_jwt(_claims(tenant="DeV"), DEFAULT))).tenant == "dev"


# ---------------------------------------------------------------------------------- refused tokens


def test_alg_none_is_refused(auth):
    for alg in ("none", "None", "NONE"):
        head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        body = _b64(json.dumps(_claims(roles=["admin"])).encode())
        for token in (f"{head}.{body}.", f"{head}.{body}.{_b64(b'x')}"):
            with pytest.raises(AuthenticationError, match="only HS256"):
                auth.identify_request(_bearer(token))


def test_alg_confusion_is_refused(auth, rsa_private):
    # an HS256 token "signed" with the RS256 tenant's public key text as the HMAC secret
    for secret in (_pem_public(rsa_private), _pem_public(rsa_private).strip()):
        confused = encode_jwt(_claims(tenant="rs", roles=["admin"]), secret)
        with pytest.raises(AuthenticationError, match="only RS256"):
            auth.identify_request(_bearer(confused))
    # and an RS256 token for an HS256 tenant
    with pytest.raises(AuthenticationError, match="only HS256"):
        auth.identify_request(_bearer(encode_jwt(_claims(tenant="hs"), RsaKey.from_private(rsa_private))))
    # the same trick on the v2 header
    confused = encode_jwt({ENDUSER: "eve@carbon.super", ROLE: "Internal/abaco-admin"}, _pem_public(rsa_private))
    with pytest.raises(AuthenticationError, match="only RS256"):
        auth.identify_request({"X-Jwt-Assertion-DEV": confused})


def test_tampered_tokens_are_refused(auth):
    for tenant in ("dev", "rs"):
        head, body, sig = auth.mint("alice", tenant, [Role.USER]).split(".")
        promoted = _b64(json.dumps(_claims(tenant=tenant, roles=["admin"])).encode())
        flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
        for token in (
            f"{head}.{promoted}.{sig}",
            f"{head}.{body}.{flipped}",
            f"{head}.{body}.{sig}!",
            f"{head}.{body}",
        ):
            with pytest.raises(AuthenticationError):
                auth.identify_request(_bearer(token))


def test_duplicate_claims_and_critical_headers_are_refused():
    head = _b64(b'{"alg":"HS256","alg":"none"}')
    body = _b64(json.dumps(_claims()).encode())
    sig = _b64(HmacKey(DEFAULT).sign(f"{head}.{body}".encode()))
    with pytest.raises(AuthenticationError, match="cannot decode"):
        decode_jwt(f"{head}.{body}.{sig}", DEFAULT, "abaco")
    head = _b64(b'{"alg":"HS256","crit":["exp"]}')
    sig = _b64(HmacKey(DEFAULT).sign(f"{head}.{body}".encode()))
    with pytest.raises(AuthenticationError, match="critical"):
        decode_jwt(f"{head}.{body}.{sig}", DEFAULT, "abaco")


def test_expiry_with_bounded_leeway():
    now = time.time()
    assert decode_jwt(encode_jwt(_claims(exp=now - 10), DEFAULT), DEFAULT, "abaco", leeway=30)
    with pytest.raises(AuthenticationError, match="expired"):
        decode_jwt(encode_jwt(_claims(exp=now - 10), DEFAULT), DEFAULT, "abaco", leeway=0)
    with pytest.raises(AuthenticationError, match="expired"):
        decode_jwt(encode_jwt(_claims(exp=now - 40), DEFAULT), DEFAULT, "abaco", leeway=30)
    # a leeway above the cap is held to 300 s
    with pytest.raises(AuthenticationError, match="expired"):
        decode_jwt(encode_jwt(_claims(exp=now - 400), DEFAULT), DEFAULT, "abaco", leeway=100_000)
    with pytest.raises(AuthenticationError, match="no expiry"):
        decode_jwt(encode_jwt({"iss": "abaco", "sub": "u"}, DEFAULT), DEFAULT, "abaco")
    for bad in ("soon", True, [1]):
        with pytest.raises(AuthenticationError, match="must be a number"):
            decode_jwt(encode_jwt(_claims(exp=bad), DEFAULT), DEFAULT, "abaco")
    with pytest.raises(AuthenticationError, match="not valid yet"):
        decode_jwt(encode_jwt(_claims(nbf=now + 100), DEFAULT), DEFAULT, "abaco", leeway=30)
    with pytest.raises(AuthenticationError, match="future"):
        decode_jwt(encode_jwt(_claims(iat=now + 100), DEFAULT), DEFAULT, "abaco", leeway=30)
    assert decode_jwt(encode_jwt(_claims(nbf=now + 10), DEFAULT), DEFAULT, "abaco", leeway=30)


def test_expired_and_wrong_issuer_through_the_authenticator(auth):
    with pytest.raises(AuthenticationError, match="expired"):
        auth.identify_request(_bearer(encode_jwt(_claims(exp=time.time() - 3600), DEFAULT)))
    with pytest.raises(AuthenticationError, match="wrong issuer"):
        auth.identify_request(_bearer(encode_jwt(_claims(iss="someone-else"), DEFAULT)))
    with pytest.raises(AuthenticationError, match="wrong issuer"):
        auth.identify_request(_bearer(encode_jwt({k: v for k, v in _claims().items() if k != "iss"}, DEFAULT)))


def test_leeway_is_capped_in_config():
    assert load_config(env={"ABACO__AUTH__LEEWAY": "300"}).auth.leeway == 300
    for bad in ("301", "-1"):
        with pytest.raises(ConfigError, match="leeway"):
            load_config(env={"ABACO__AUTH__LEEWAY": bad})


# ---------------------------------------------------------------------------------- roles and names


@pytest.mark.parametrize(
    "name, role",
    [
        ("admin", Role.ADMIN),
        ("Internal/abaco-admin", Role.ADMIN),
        ("abaco_admin", Role.ADMIN),
        ("privileged", Role.PRIVILEGED),
        ("Internal/abaco-privileged", Role.PRIVILEGED),
        ("abaco_privileged", Role.PRIVILEGED),
        ("user", Role.USER),
        ("Internal/abaco-user", Role.USER),
        ("limited", Role.LIMITED),
        ("Internal/abaco-limited", Role.LIMITED),
    ],
)
def test_default_role_names(auth, name, role):
    who = auth.identify_request(_bearer(encode_jwt(_claims(roles=[name, "Internal/unrelated"]), DEFAULT)))
    assert who.roles == frozenset({role})


def test_a_caller_without_a_known_role_is_forbidden(auth):
    for roles in ([], ["Internal/everyone"], ["ALL"], ["Admin"], [1, None]):
        with pytest.raises(PermissionDenied, match="Not authorized -- missing required role."):
            auth.identify_request(_bearer(encode_jwt(_claims(roles=roles), DEFAULT)))
    with pytest.raises(AuthenticationError, match="roles must be a list"):
        auth.identify_request(_bearer(encode_jwt(_claims(roles="admin"), DEFAULT)))


def test_role_names_are_configurable():
    cfg = load_config(env={"ABACO__AUTH__USER_ROLES": "user, Internal/everyone", "ABACO__AUTH__ADMIN_ROLES": "boss"})
    auth = Authenticator(cfg.auth, DEFAULT)
    assert auth.identify(f"Bearer {encode_jwt(_claims(roles=['Internal/everyone']), DEFAULT)}").roles == {Role.USER}
    assert auth.identify(f"Bearer {encode_jwt(_claims(roles=['boss']), DEFAULT)}").is_admin
    with pytest.raises(PermissionDenied):
        auth.identify(f"Bearer {encode_jwt(_claims(roles=['admin']), DEFAULT)}")
    with pytest.raises(ConfigError, match="both"):
        load_config(env={"ABACO__AUTH__LIMITED_ROLES": "user"})


def test_reserved_user_names_are_refused(auth):
    for name in ("ABACO_WORLD", "abaco_world", "anonymous", "Anonymous"):
        with pytest.raises(AuthenticationError, match="reserved"):
            auth.identify_request(_bearer(encode_jwt(_claims(sub=name), DEFAULT)))
        with pytest.raises(ValidationError, match="reserved"):
            auth.mint(name, "dev", [Role.USER])


def test_tenant_claims_cannot_contain_the_key_separator(auth):
    with pytest.raises(AuthenticationError, match="tenant"):
        auth.identify_request(_bearer(encode_jwt(_claims(tenant="dev_x"), DEFAULT)))
    with pytest.raises(AuthenticationError, match="tenant"):
        auth.identify_request(_bearer(encode_jwt({k: v for k, v in _claims().items() if k != "tenant"}, DEFAULT)))


# ---------------------------------------------------------------------------------- v2 and v3 headers


def _assertion(key: rsa.RSAPrivateKey, **claims) -> str:
    base = {"iss": "wso2.org/products/am", ENDUSER: "jdoe@carbon.super", ROLE: "Internal/everyone,Internal/abaco-user"}
    return encode_jwt({**base, **claims}, RsaKey.from_private(key))


def test_v2_assertion_header(auth, rsa_private):
    token = _assertion(rsa_private, exp=time.time() + 60)
    who = auth.identify_request({"X-Jwt-Assertion-DEV-DEVELOP": token})
    assert (who.user, who.tenant, who.roles) == ("jdoe", "dev-develop", frozenset({Role.USER}))
    # header names are case-insensitive, and so is the tenant; WSGI's "_" form maps back to "-"
    assert auth.identify_request({"x-jwt-assertion-dev-develop": token}).tenant == "dev-develop"
    assert auth.identify_v2("DEV_DEVELOP", token).tenant == "dev-develop"
    # the same token under another tenant's header is that other tenant
    assert auth.identify_request({"X-Jwt-Assertion-TACC-PROD": token}).tenant == "tacc-prod"
    # roles as a list, admin mapped; no exp is accepted (v2 APIM tokens), an expired one is not
    admin = _assertion(rsa_private, **{ROLE: ["Internal/abaco-admin", "Internal/everyone"]})
    assert auth.identify_request({"X-Jwt-Assertion-DEV": admin}).is_admin
    with pytest.raises(AuthenticationError, match="expired"):
        auth.identify_request({"X-Jwt-Assertion-DEV": _assertion(rsa_private, exp=time.time() - 3600)})


def test_v2_assertions_that_are_refused(auth, rsa_private, other_private):
    with pytest.raises(AuthenticationError, match="bad signature"):
        auth.identify_request({"X-Jwt-Assertion-DEV": _assertion(other_private)})
    with pytest.raises(PermissionDenied, match="missing required role"):
        auth.identify_request({"X-Jwt-Assertion-DEV": _assertion(rsa_private, **{ROLE: "Internal/everyone"})})
    with pytest.raises(AuthenticationError, match="no user"):
        auth.identify_request({"X-Jwt-Assertion-DEV": _assertion(rsa_private, **{ENDUSER: None})})
    with pytest.raises(AuthenticationError, match="reserved"):
        auth.identify_request({"X-Jwt-Assertion-DEV": _assertion(rsa_private, **{ENDUSER: "ABACO_WORLD@x"})})
    with pytest.raises(AuthenticationError, match="tenant"):
        auth.identify_request({"X-Jwt-Assertion-D%V": _assertion(rsa_private)})
    token = _assertion(rsa_private)
    with pytest.raises(AuthenticationError, match="not several"):
        auth.identify_request({"X-Jwt-Assertion-A": token, "X-Jwt-Assertion-B": token})
    without_v2 = Authenticator(AuthConfig(), DEFAULT)
    with pytest.raises(AuthenticationError, match="no APIM key"):
        without_v2.identify_request({"X-Jwt-Assertion-DEV": token})


def test_v2_claims_are_configurable(rsa_private):
    cfg = load_config(env={"ABACO__AUTH__V2_USER_CLAIM": "user", "ABACO__AUTH__V2_ROLES_CLAIM": "groups"})
    auth = Authenticator(cfg.auth, DEFAULT, v2_key=RsaKey(rsa_private.public_key()))
    token = encode_jwt({"user": "ann@example.org", "groups": "abaco_admin"}, RsaKey.from_private(rsa_private))
    who = auth.identify_request({"X-Jwt-Assertion-Dev": token})
    assert (who.user, who.tenant, who.is_admin) == ("ann", "dev", True)


def test_x_tapis_token_is_a_bearer_token(auth):
    for tenant in ("dev", "rs", "hs"):
        token = auth.mint("alice", tenant, [Role.USER])
        assert auth.identify_request({"X-Tapis-Token": token}) == auth.identify_request(_bearer(token))
    with pytest.raises(AuthenticationError, match="expired"):
        auth.identify_request({"X-Tapis-Token": encode_jwt(_claims(exp=time.time() - 3600), DEFAULT)})


def test_credentials_are_tried_in_order_and_a_bad_one_is_final(auth, rsa_private):
    good, v2 = auth.mint("alice", "dev", [Role.USER]), _assertion(rsa_private)
    assert auth.identify_request({**_bearer(good), "X-Tapis-Token": "junk", "X-Jwt-Assertion-X": v2}).tenant == "dev"
    assert auth.identify_request({"X-Tapis-Token": good, "X-Jwt-Assertion-X": v2}).tenant == "dev"
    with pytest.raises(AuthenticationError):
        auth.identify_request({"Authorization": "Bearer junk", "X-Tapis-Token": good})
    with pytest.raises(AuthenticationError):
        auth.identify_request({"Authorization": "Basic YTpi", "X-Jwt-Assertion-X": v2})
    with pytest.raises(AuthenticationError, match="No credentials"):
        auth.identify_request({"Authorization": "  ", "X-Tapis-Token": ""})


# ---------------------------------------------------------------------------------- access_control


def test_access_control_none_is_anonymous_admin():
    cfg = load_config(env={"ABACO__AUTH__ACCESS_CONTROL": "none", "ABACO__GENERAL__DEFAULT_TENANT": "Local"})
    auth = Authenticator(cfg.auth, DEFAULT, default_tenant=cfg.general.default_tenant)
    who = auth.identify_request({})
    assert (who.user, who.tenant, who.is_admin) == ("anonymous", "local", True)
    assert auth.identify_request({"tenant": "TACC", "Authorization": "Bearer junk"}).tenant == "tacc"
    with pytest.raises(ValidationError):
        auth.identify_request({"tenant": "a_b"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_access_control_none_on_loopback(host):
    cfg = load_config(env={"ABACO__AUTH__ACCESS_CONTROL": "none", "ABACO__HTTP__HOST": host})
    assert cfg.auth.access_control == "none"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.org"])
def test_access_control_none_refused_off_loopback(host):
    with pytest.raises(ConfigError, match="loopback"):
        load_config(env={"ABACO__AUTH__ACCESS_CONTROL": "none", "ABACO__HTTP__HOST": host})
    assert load_config(env={"ABACO__HTTP__HOST": host}).auth.access_control == "jwt"
    with pytest.raises(ConfigError, match="access_control"):
        load_config(env={"ABACO__AUTH__ACCESS_CONTROL": "open"})


# ---------------------------------------------------------------------------------- config and files


def test_tenant_keys_from_config_files(tmp_path, rsa_private, other_private):
    data = tmp_path / ".data"
    (data / "keys").mkdir(parents=True)
    (data / "jwt_secret").write_text(DEFAULT.decode())
    (data / "keys" / "hs.secret").write_text(TENANT_SECRET.decode() + "\n")
    (data / "keys" / "rs.pem").write_bytes(_pem_private(rsa_private))
    (data / "keys" / "pub.pem").write_bytes(_pem_public(other_private))
    (data / "v2_keys").mkdir()
    (data / "v2_keys" / "public.pem").write_bytes(_pem_public(rsa_private))
    env = {
        "ABACO_HOME": str(tmp_path),
        # relative paths are relative to the install root; tenants are case-insensitive
        "ABACO__AUTH__TENANT_KEYS": "hs=HS256:.data/keys/hs.secret, RS=rs256:.data/keys/rs.pem,"
        f"pub=RS256:{data / 'keys' / 'pub.pem'}",
    }
    cfg = load_config(env=env)
    assert cfg.auth.v2_public_key_file == str(data / "v2_keys" / "public.pem")
    assert cfg.auth.tenant_keys[1] == f"rs=RS256:{tmp_path}/.data/keys/rs.pem"
    auth = Authenticator.from_config(cfg)
    assert sorted(auth.tenant_keys) == ["hs", "pub", "rs"]
    assert auth.identify(f"Bearer {encode_jwt(_claims(tenant='hs'), TENANT_SECRET)}").tenant == "hs"
    assert auth.identify(f"Bearer {auth.mint('a', 'rs', [Role.USER])}").tenant == "rs"
    assert auth.v2_key is not None
    assert auth.identify_request({"X-Jwt-Assertion-DEV": _assertion(rsa_private)}).user == "jdoe"
    # no v2 key file: v2 is off, the rest works
    (data / "v2_keys" / "public.pem").unlink()
    assert Authenticator.from_config(load_config(env=env)).v2_key is None


@pytest.mark.parametrize(
    "entry",
    ["dev", "dev=HS256", "dev=HS512:/k", "dev=RS256:", "dev_x=HS256:/k", "=HS256:/k", "a=HS256:/k,A=RS256:/j"],
)
def test_bad_tenant_key_entries(entry):
    with pytest.raises(ConfigError, match="tenant_keys"):
        load_config(env={"ABACO__AUTH__TENANT_KEYS": entry})


def test_key_files_are_checked(tmp_path, rsa_private):
    (tmp_path / "short").write_text("tooshort")
    with pytest.raises(ConfigError, match="too short"):
        load_key_file("HS256", tmp_path / "short")
    with pytest.raises(ConfigError, match="cannot read"):
        load_key_file("RS256", tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigError, match="not a PEM"):
        load_key_file("RS256", tmp_path / "junk.pem")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "small.pem").write_bytes(_pem_private(small))
    with pytest.raises(ConfigError, match="2048"):
        load_key_file("RS256", tmp_path / "small.pem")
    # the v2 web.apim_public_key form: base64 DER without PEM armour
    der = rsa_private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "apim.b64").write_text(base64.b64encode(der).decode() + "\n")
    key = load_key_file("RS256", tmp_path / "apim.b64")
    assert not key.can_sign and key.verify(b"x", RsaKey.from_private(rsa_private).sign(b"x"))


def test_keys_never_show_their_secret(rsa_private):
    assert "d" * 32 not in repr(HmacKey(DEFAULT))
    assert "PRIVATE" not in repr(RsaKey.from_private(rsa_private))


# ---------------------------------------------------------------------------------- HTTP and CLI


def _call(app, headers: dict[str, str]) -> tuple[int, dict]:
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO="/who", CONTENT_LENGTH="0", **{"wsgi.input": io.BytesIO()})
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    out = b"".join(app(environ, lambda s, h, exc=None: status.append(s)))
    return int(status[0].split()[0]), json.loads(out)


def test_the_auth_plugin_reads_every_credential_header(auth, rsa_private):
    app = AbacoApp("1.0.0", auth, 1000)

    @app.get("/who")
    def who():
        p = principal()
        return ok({"user": p.user, "tenant": p.tenant})

    assert _call(app, {"X-Jwt-Assertion-DEV-DEVELOP": _assertion(rsa_private)})[1]["result"] == {
        "user": "jdoe",
        "tenant": "dev-develop",
    }
    assert _call(app, {"X-Tapis-Token": auth.mint("al", "rs", [Role.USER])})[1]["result"]["tenant"] == "rs"
    code, body = _call(app, {})
    assert (code, body["status"], body["result"]) == (401, "error", None)
    head = _b64(b'{"alg":"none"}')
    assert _call(app, _bearer(f"{head}.{_b64(json.dumps(_claims()).encode())}."))[0] == 401
    code, body = _call(app, _bearer(encode_jwt(_claims(roles=["Internal/everyone"]), DEFAULT)))
    assert (code, body["message"]) == (403, "Not authorized -- missing required role.")


def test_admin_token_command(tmp_path, monkeypatch, capsys):
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "jwt_secret").write_text(DEFAULT.decode())
    for key in [k for k in os.environ if k.startswith("ABACO")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ABACO_HOME", str(tmp_path))
    assert admin_cli.main(["token", "--user", "alice", "--tenant", "Other", "--role", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    who = Authenticator(AuthConfig(), DEFAULT).identify(f"Bearer {token}")
    assert (who.user, who.tenant, who.is_admin) == ("alice", "other", True)
    assert admin_cli.main(["token", "--user", "alice", "--header"]) == 0
    assert capsys.readouterr().out.startswith("Authorization: Bearer ey")
    assert admin_cli.main(["token", "--user", "alice", "--header", "tapis"]) == 0
    assert capsys.readouterr().out.startswith("X-Tapis-Token: ey")
    assert admin_cli.main(["token", "--user", "ABACO_WORLD"]) == 2
    assert "reserved" in capsys.readouterr().err


def test_a_remembered_token_is_refused_once_it_expires(auth, monkeypatch):
    now = time.time()
    token = encode_jwt(_claims(exp=now + 5), DEFAULT)
    first = auth.identify_request(_bearer(token))
    assert auth.identify_request(_bearer(token)) is first  # remembered: not verified again
    monkeypatch.setattr(time, "time", lambda: now + 5 + 600)  # past any leeway
    with pytest.raises(AuthenticationError, match="expired"):
        auth.identify_request(_bearer(token))


def test_a_bad_token_is_never_remembered(auth):
    good = encode_jwt(_claims(), DEFAULT)
    head, body, sig = good.split(".")
    forged = f"{head}.{body}.{sig[:-2]}AA"
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            auth.identify_request(_bearer(forged))
    assert forged not in auth._verified
