"""Credentials through nginx: v2 assertion headers, X-Tapis-Token, refused tokens, and HTTPS on 443.

v2 assertions are signed with the development APIM key pair that scripts/install.sh makes in
.data/v2_keys (the services verify them with its public half, auth.v2_public_key_file's default).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from abaco_shared.enums import Role
from abaco_shared.signing import RsaKey
from abaco_shared.tokens import encode_jwt

from .conftest import ROOT

ENDUSER = "http://wso2.org/claims/enduser"
ROLE = "http://wso2.org/claims/role"
TLS_URL = os.environ.get("ABACO_TLS_URL", "https://127.0.0.1:443")
TLS_CA = ROOT / ".data" / "tls" / "cert.pem"


@pytest.fixture(scope="module")
def apim_key() -> RsaKey:
    path = ROOT / ".data" / "v2_keys" / "private.pem"
    assert path.exists(), f"{path} is missing: scripts/install.sh (make install) generates it"
    return RsaKey.from_bytes(path.read_bytes())


def _assertion(key: RsaKey, user: str, roles: str = "Internal/everyone,Internal/abaco-user", **extra) -> str:
    claims = {"iss": "wso2.org/products/am", ENDUSER: f"{user}@carbon.super", ROLE: roles, **extra}
    return encode_jwt({"exp": int(time.time()) + 300, **claims}, key)


def _get(base: str, path: str, headers: dict[str, str], **kw) -> requests.Response:
    return requests.get(f"{base}{path}", headers=headers, timeout=30, **kw)


def _ids(resp: requests.Response) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {a["id"] for a in resp.json()["result"]}


def _assert_error(resp: requests.Response, status: int, fragment: str = "") -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert (body["status"], body["result"]) == ("error", None)
    assert fragment in body["message"]


def test_a_v2_assertion_is_accepted_and_its_tenant_comes_from_the_header(stack, apim_key, authenticator):
    user = f"v2{uuid.uuid4().hex[:10]}"
    token = _assertion(apim_key, user)
    dev = {"X-Jwt-Assertion-DEV-DEVELOP": token}
    resp = requests.post(f"{stack}/actors", headers=dev, json={"image": "abaco/echo:latest"}, timeout=30)
    assert resp.status_code == 200, resp.text
    actor_id = resp.json()["result"]["id"]
    try:
        assert actor_id in _ids(_get(stack, "/actors", dev))
        assert resp.json()["result"]["owner"] == user
        # the same token under another tenant's header sees none of the first tenant's actors
        other = {f"X-Jwt-Assertion-T{uuid.uuid4().hex[:8].upper()}-OTHER": token}
        assert actor_id not in _ids(_get(stack, "/actors", other))
        _assert_error(_get(stack, f"/actors/{actor_id}", other), 404)
        # tenant ids are case-insensitive: a bearer token for dev-develop is the same tenant
        bearer = {"Authorization": f"Bearer {authenticator.mint(user, 'dev-develop', [Role.USER])}"}
        assert actor_id in _ids(_get(stack, "/actors", bearer))
    finally:
        requests.delete(f"{stack}/actors/{actor_id}", headers=dev, timeout=30)


def test_refused_credentials_answer_json(stack, apim_key, authenticator):
    dev = "X-Jwt-Assertion-DEV-DEVELOP"
    _assert_error(_get(stack, "/actors", {}), 401, "No credentials")
    # v2: another key, an expired token, only Internal/everyone, a reserved user
    stranger = RsaKey.from_private(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    _assert_error(_get(stack, "/actors", {dev: _assertion(stranger, "eve")}), 401, "bad signature")
    _assert_error(_get(stack, "/actors", {dev: _assertion(apim_key, "eve", exp=int(time.time()) - 3600)}), 401)
    _assert_error(
        _get(stack, "/actors", {dev: _assertion(apim_key, "eve", roles="Internal/everyone")}),
        403,
        "Not authorized -- missing required role.",
    )
    _assert_error(_get(stack, "/actors", {dev: _assertion(apim_key, "ABACO_WORLD")}), 401, "reserved")
    # bearer: alg none, tampered claims
    token = authenticator.mint("alice", "dev", [Role.USER])
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    promoted = base64.urlsafe_b64encode(json.dumps({**claims, "roles": ["admin"]}).encode()).rstrip(b"=").decode()
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    _assert_error(_get(stack, "/actors", {"Authorization": f"Bearer {head}.{promoted}.{sig}"}), 401, "bad signature")
    _assert_error(_get(stack, "/actors", {"Authorization": f"Bearer {none}.{promoted}."}), 401, "only HS256")
    _assert_error(_get(stack, "/actors", {"X-Tapis-Token": f"{none}.{promoted}."}), 401, "only HS256")


def test_x_tapis_token_works_like_a_bearer_token(stack, make_client, tenant, actors, authenticator):
    actor = actors("abaco/echo:latest")
    token = authenticator.mint("alice", tenant, [Role.USER])
    assert actor["id"] in _ids(_get(stack, "/actors", {"X-Tapis-Token": token}))
    resp = _get(stack, f"/actors/{actor['id']}", {"X-Tapis-Token": token})
    assert resp.status_code == 200 and resp.json()["result"]["id"] == actor["id"]


def test_https_on_443(stack, authenticator, tenant):
    verify: str | bool = str(TLS_CA) if TLS_CA.exists() else False
    try:
        anonymous = _get(TLS_URL, "/actors", {}, verify=verify)
    except requests.ConnectionError as exc:
        pytest.fail(f"nothing answers HTTPS at {TLS_URL}: {exc}")
    _assert_error(anonymous, 401, "No credentials")
    bearer = {"Authorization": f"Bearer {authenticator.mint('alice', tenant, [Role.USER])}"}
    resp = _get(TLS_URL, "/actors", bearer, verify=verify)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "success"
    # plain HTTP on the TLS port is a JSON 400, not nginx's HTML page
    _assert_error(_get(TLS_URL.replace("https://", "http://"), "/actors", {}), 400)
