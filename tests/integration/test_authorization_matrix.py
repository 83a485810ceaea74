"""The authorisation matrix: role x permission level x tenant x endpoint family, through nginx.

Every caller is a user of its own, named after its role and level (``user-READ``, ...). A level
is granted directly in MongoDB (``permissions.grant``) on a shared actor owned by ``carol``; the
"owner" level is an actor the caller registered itself. "Other tenant" is the same user name and
role in a second tenant: it must get the 404 of an actor that does not exist, word for word, so
other tenants never learn that an id exists. In its own tenant a caller gets 200 when its level
suffices (GET: READ; POST message: EXECUTE; PUT, DELETE, purge: UPDATE; admins: everything),
the same 404 when it may not even READ the actor (so ids cannot be probed), else a 403 that
names the level it lacks. Actors are registered once per module, except that
each DELETE case deletes an actor of its own.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from abaco_shared import permissions
from abaco_shared.actors import key_for
from abaco_shared.config import load_config
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import ValidationError
from abaco_shared.store import connect_mongo, disconnect_mongo
from abaco_shared.tokens import encode_jwt

from .conftest import ROOT, Client

ROLES = (Role.ADMIN, Role.PRIVILEGED, Role.USER, Role.LIMITED)
LEVELS = ("none", "READ", "EXECUTE", "UPDATE", "owner")
HELD = {"none": Permission.NONE, "owner": Permission.UPDATE} | {p.name: p for p in Permission}
IMAGE = "abaco/echo:latest"


@dataclass(frozen=True)
class Endpoint:
    """One endpoint family: the level it needs and how to call it on (actor id, execution id)."""

    name: str
    needed: Permission
    method: str
    path: str  # with {actor} and {execution}
    body: dict | None = None
    form: dict | None = None


ENDPOINTS = (
    Endpoint("get-actor", Permission.READ, "GET", "/actors/{actor}"),
    Endpoint("put-actor", Permission.UPDATE, "PUT", "/actors/{actor}", body={"image": IMAGE}),
    Endpoint("delete-actor", Permission.UPDATE, "DELETE", "/actors/{actor}"),
    Endpoint("list-executions", Permission.READ, "GET", "/actors/{actor}/executions"),
    Endpoint("get-execution", Permission.READ, "GET", "/actors/{actor}/executions/{execution}"),
    Endpoint("get-logs", Permission.READ, "GET", "/actors/{actor}/executions/{execution}/logs"),
    Endpoint("post-message", Permission.EXECUTE, "POST", "/actors/{actor}/messages", form={"message": "m"}),
    Endpoint("get-messages", Permission.READ, "GET", "/actors/{actor}/messages"),
    Endpoint("purge-messages", Permission.UPDATE, "DELETE", "/actors/{actor}/messages"),
    Endpoint("list-workers", Permission.READ, "GET", "/actors/{actor}/workers"),
)


def user_of(role: Role, level: str) -> str:
    return f"{role.value}-{level.lower()}"


@dataclass
class World:
    """What the module registered: two tenants, the shared actor, each role's own actor."""

    mint: Callable[[str, str, Role], Client]
    tenant: str
    other_tenant: str
    owner: Client  # carol, owner of the shared actor
    shared: tuple[str, str]  # (actor id, execution id)
    owned: dict[Role, tuple[str, str]]  # the actor each role's "owner" user registered

    def target(self, role: Role, level: str) -> tuple[str, str]:
        return self.owned[role] if level == "owner" else self.shared


def _platform_config():
    return load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})


def grant_levels(tenant: str, actor_id: str, grants: dict[str, Permission]) -> None:
    """Grant levels directly in MongoDB, with the platform's credentials."""
    connect_mongo(_platform_config().mongo)
    try:
        for user, level in grants.items():
            permissions.grant(tenant, key_for(tenant, actor_id), user, level)
    finally:
        disconnect_mongo()


@pytest.fixture(scope="module")
def world(stack, authenticator) -> Iterator[World]:
    run = uuid.uuid4().hex[:8]
    tenant, other_tenant = f"ma{run}", f"mb{run}"

    def mint(user: str, in_tenant: str, role: Role) -> Client:
        return Client(stack, authenticator.mint(user, in_tenant, [role]))

    owner = mint("carol", tenant, Role.USER)
    registered: list[tuple[Client, str]] = []

    def register(client: Client) -> tuple[str, str]:
        actor_id = client.register(IMAGE)["id"]
        registered.append((client, actor_id))
        return actor_id, client.send(actor_id, "first")

    try:
        shared = register(owner)
        owned = {role: register(mint(user_of(role, "owner"), tenant, role)) for role in ROLES}
        grant_levels(
            tenant,
            shared[0],
            {user_of(role, level): HELD[level] for role in ROLES for level in ("READ", "EXECUTE", "UPDATE")},
        )
        yield World(mint, tenant, other_tenant, owner, shared, owned)
    finally:
        for client, actor_id in registered:
            client.call("DELETE", f"/actors/{actor_id}")


def expected_status(role: Role, level: str, same_tenant: bool, needed: Permission) -> int:
    if not same_tenant:
        return 404
    if role is Role.ADMIN or HELD[level] >= needed:
        return 200
    if HELD[level] < Permission.READ:
        return 404  # an actor the caller may not see is indistinguishable from a missing one
    return 403


def throwaway(world: World, role: Role, level: str) -> tuple[str, Client]:
    """An actor of its own for one DELETE case: (actor id, a client that can delete it)."""
    registrar = world.mint(user_of(role, level), world.tenant, role) if level == "owner" else world.owner
    actor_id = registrar.register(IMAGE)["id"]
    if level not in ("owner", "none"):
        grant_levels(world.tenant, actor_id, {user_of(role, level): HELD[level]})
    return actor_id, registrar


def call(client: Client, endpoint: Endpoint, actor_id: str, execution_id: str) -> requests.Response:
    path = endpoint.path.format(actor=actor_id, execution=execution_id)
    return client.call(endpoint.method, path, json=endpoint.body, data=endpoint.form)


CASES = [
    pytest.param(role, level, same, endpoint, id=f"{role.value}-{level}-{'same' if same else 'other'}-{endpoint.name}")
    for role in ROLES
    for level in LEVELS
    for same in (True, False)
    for endpoint in ENDPOINTS
]


@pytest.mark.parametrize(("role", "level", "same_tenant", "endpoint"), CASES)
def test_authorization_matrix(world: World, role: Role, level: str, same_tenant: bool, endpoint: Endpoint):
    caller = world.mint(user_of(role, level), world.tenant if same_tenant else world.other_tenant, role)
    cleanup: Client | None = None
    actor_id, execution_id = world.target(role, level)
    if endpoint.name == "delete-actor":
        actor_id, cleanup = throwaway(world, role, level)
    try:
        resp = call(caller, endpoint, actor_id, execution_id)
        want = expected_status(role, level, same_tenant, endpoint.needed)
        assert resp.status_code == want, (
            f"{role.value} with {level} in the {'same' if same_tenant else 'other'} tenant, {endpoint.name}: "
            f"wanted {want}, got {resp.status_code}: {resp.text}"
        )
        body = resp.json()
        if want == 200:
            assert body["status"] == "success", body
            if endpoint.name == "delete-actor":
                cleanup = None
            return
        assert body["status"] == "error" and body["result"] is None and body["version"], body
        if want == 403:
            assert body["message"] == f"Not authorized -- you need {endpoint.needed.name} permission on this object."
        else:
            # exactly the answer for an id that does not exist: nothing tells the id exists elsewhere
            missing = "X" + uuid.uuid4().hex[:12]
            ghost = call(caller, endpoint, missing, execution_id)
            assert ghost.status_code == 404
            assert body["message"] == ghost.json()["message"].replace(missing, actor_id), (body, ghost.text)
            assert body["message"] == f"No actor found with identifier: {actor_id}."
    finally:
        if cleanup is not None:
            cleanup.call("DELETE", f"/actors/{actor_id}")


def test_the_owner_first_message_is_what_get_execution_reads(world: World):
    """The matrix's GET execution/logs cases read a real execution (not a 404 of a missing one)."""
    actor_id, execution_id = world.shared
    ex = world.owner.ok("GET", f"/actors/{actor_id}/executions/{execution_id}")
    assert ex["id"] == execution_id and ex["actor_id"] == actor_id


# -- reserved user names ------------------------------------------------------------------


@pytest.mark.parametrize("user", ["ABACO_WORLD", "abaco_world", "anonymous"])
def test_reserved_user_names_cannot_be_minted(authenticator, user):
    with pytest.raises(ValidationError, match="reserved"):
        authenticator.mint(user, "dev", [Role.USER])


@pytest.mark.parametrize("user", ["ABACO_WORLD", "abaco_world", "anonymous"])
def test_a_validly_signed_token_for_a_reserved_name_is_refused(stack, authenticator, user):
    """Signed with the real key, so only the user name is wrong."""
    now = int(time.time())
    claims = {
        "iss": authenticator.cfg.issuer,
        "sub": user,
        "tenant": "dev",
        "roles": [Role.ADMIN.value],
        "iat": now,
        "exp": now + 300,
    }
    token = encode_jwt(claims, authenticator.key_for("dev"))
    resp = requests.get(f"{stack}/actors", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 401, resp.text
    body = resp.json()
    assert body["status"] == "error" and "reserved" in body["message"], body


def test_a_token_with_no_known_role_is_refused(stack, authenticator):
    token = authenticator.mint("dave", "dev", [])
    resp = requests.get(f"{stack}/actors", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["message"] == "Not authorized -- missing required role."
