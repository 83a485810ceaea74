import time

import pytest

from abaco_shared.auth import Authenticator
from abaco_shared.config import AuthConfig
from abaco_shared.enums import Permission, Role
from abaco_shared.errors import AuthenticationError, PermissionDenied, ValidationError
from abaco_shared.ids import is_id, new_id, random_hex
from abaco_shared.tokens import decode_jwt, encode_jwt

SECRET = b"0123456789abcdef0123456789abcdef"


def test_ids_are_unique_and_recognisable():
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(is_id(i) and i.isalnum() and 12 <= len(i) <= 15 for i in ids)
    assert not is_id("my-alias")
    assert not is_id("hello.world")
    some = next(iter(ids))
    assert not is_id(some[:-1] + ("a" if some[-1] != "a" else "b"))


def test_threads_drawing_at_once_never_share_random_bytes():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:  # 16,000 ids: the 4 KiB buffer is refilled about 35 times
        made = list(pool.map(lambda _: [new_id() for _ in range(1000)] + [random_hex(16)], range(16)))
    ids = [i for batch in made for i in batch[:-1]]
    hexes = [batch[-1] for batch in made]
    assert len(set(ids)) == len(ids) == 16000
    assert len(set(hexes)) == 16 and all(len(h) == 32 and int(h, 16) >= 0 for h in hexes)


def test_processes_forked_from_one_parent_never_make_the_same_id():
    """The API runs forked copies of one process (http.processes); ids once came from uuid1's
    clock bits only, and two copies made the same execution id under load."""
    import os

    new_id()  # the parent has made ids before it forks, as a service has
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, "\n".join(new_id() for _ in range(20000)).encode())
        os._exit(0)
    os.close(write)
    mine = {new_id() for _ in range(20000)}
    with os.fdopen(read) as pipe:
        theirs = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    assert len(theirs) == 20000 and not mine & theirs


def test_jwt_round_trip_and_tamper():
    token = encode_jwt({"iss": "abaco", "sub": "u", "exp": time.time() + 60}, SECRET)
    assert decode_jwt(token, SECRET, "abaco")["sub"] == "u"
    head, body, sig = token.split(".")
    with pytest.raises(AuthenticationError):
        decode_jwt(f"{head}.{body}x.{sig}", SECRET, "abaco")
    forged = encode_jwt({"iss": "abaco", "sub": "root", "exp": time.time() + 60}, SECRET).split(".")[1]
    with pytest.raises(AuthenticationError, match="bad signature"):
        decode_jwt(f"{head}.{forged}.{sig}", SECRET, "abaco")
    with pytest.raises(AuthenticationError, match="bad signature"):
        decode_jwt(token, b"another-secret-another-secret-xx", "abaco")
    with pytest.raises(AuthenticationError, match="wrong issuer"):
        decode_jwt(token, SECRET, "other")


def test_jwt_expiry_enforced():
    token = encode_jwt({"iss": "abaco", "sub": "u", "exp": time.time() - 3600}, SECRET)
    with pytest.raises(AuthenticationError, match="expired"):
        decode_jwt(token, SECRET, "abaco")


def test_authenticator_identifies_bearer_tokens():
    auth = Authenticator(AuthConfig(), SECRET)
    who = auth.identify("Bearer " + auth.mint("alice", "dev", [Role.USER]))
    assert (who.user, who.tenant, who.is_admin) == ("alice", "dev", False)
    assert auth.identify("bearer " + auth.mint("root", "dev", [Role.ADMIN])).is_admin
    for bad in (None, "", "Basic abc", "Bearer ", "Bearer not.a.jwt"):
        with pytest.raises(AuthenticationError):
            auth.identify(bad)
    with pytest.raises(PermissionDenied):
        auth.identify("Bearer " + auth.mint("nobody", "dev", []))


def test_permission_levels_are_ordered():
    assert Permission.NONE < Permission.READ < Permission.EXECUTE < Permission.UPDATE
    assert Permission.parse("execute") is Permission.EXECUTE
    with pytest.raises(ValueError):
        Permission.parse("ALL")


def test_tenant_names_cannot_contain_the_key_separator():
    auth = Authenticator(AuthConfig(), SECRET)
    with pytest.raises(ValidationError):
        auth.mint("alice", "dev_x", [Role.USER])
    forged = encode_jwt(
        {"iss": "abaco", "sub": "a", "tenant": "dev_x", "roles": ["admin"], "exp": time.time() + 60}, SECRET
    )
    with pytest.raises(AuthenticationError, match="tenant"):
        auth.identify("Bearer " + forged)
