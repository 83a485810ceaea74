"""/actors/configs/{name}/permissions over WSGI: the grants on a config, apart from its actors'."""

import pytest
from cryptography.fernet import Fernet

from abaco_admin.app import make_app
from abaco_admin.tests.test_app import AUTH, CFG, call, new_actor
from abaco_shared import permissions
from abaco_shared.auth import Principal
from abaco_shared.configs import ConfigCipher
from abaco_shared.enums import Role
from abaco_shared.workflows.configs import create_config, parse_config_body


@pytest.fixture
def app(mongo):
    actor = new_actor()
    body = {"name": "cfg", "value": 1, "is_secret": False, "actors": actor.actor_id}
    create_config(
        Principal("alice", "dev", (Role.USER,)),
        parse_config_body(body, create=True),
        ConfigCipher(Fernet.generate_key()),
    )
    return make_app(CFG, AUTH)


def test_the_owner_reads_and_grants(app):
    assert call(app, "GET", "/actors/configs/cfg/permissions") == (
        200,
        {
            "status": "success",
            "message": "The request was successful",
            "result": {"alice": "UPDATE"},
            "version": CFG.general.version,
        },
    )
    status, body = call(app, "POST", "/actors/configs/cfg/permissions", body={"user": "bob", "level": "READ"})
    assert status == 200 and body["result"] == {"alice": "UPDATE", "bob": "READ"}
    assert call(app, "GET", "/actors/configs/cfg/permissions", user="bob")[0] == 200
    status, body = call(
        app, "POST", "/actors/configs/cfg/permissions", user="bob", body={"user": "bob", "level": "UPDATE"}
    )
    assert status == 403
    assert permissions.map_for("dev", "dev_config:cfg") == {"alice": "UPDATE", "bob": "READ"}


def test_others_and_bad_grants(app):
    assert call(app, "GET", "/actors/configs/cfg/permissions", user="carol")[0] == 404
    assert call(app, "GET", "/actors/configs/cfg/permissions", tenant="other")[0] == 404
    assert call(app, "GET", "/actors/configs/nope/permissions")[0] == 404
    status, body = call(app, "POST", "/actors/configs/cfg/permissions", body={"user": "bob", "level": "ALL"})
    assert status == 400 and "Invalid level" in body["message"]
    status, body = call(app, "POST", "/actors/configs/cfg/permissions", body={"user": "alice", "level": "READ"})
    assert status == 400 and "owns the config" in body["message"]
    status, body = call(app, "POST", "/actors/configs/cfg/permissions", body={"user": "ABACO_WORLD", "level": "READ"})
    assert status == 200 and body["result"]["ABACO_WORLD"] == "READ"
    assert call(app, "GET", "/actors/configs/cfg/permissions", user="carol")[0] == 200
