"""/actors/configs over WSGI: CRUD, paging, secrets never in clear, permissions, and the 400s."""

import dataclasses
import json

import pytest
from cryptography.fernet import Fernet

from abaco_registration.app import make_app
from abaco_registration.tests.test_app import AUTH, CFG, call, create
from abaco_shared import configs, permissions
from abaco_shared.enums import Permission, Role


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "config_key"
    path.write_bytes(Fernet.generate_key())
    return path


@pytest.fixture
def app(mongo, broker, key_file):
    cfg = dataclasses.replace(CFG, general=dataclasses.replace(CFG.general, config_key_file=str(key_file)))
    return make_app(cfg, AUTH, broker)


def post(app, user="alice", **fields):
    return call(app, "POST", "/actors/configs", user=user, json_body=fields)


def test_crud(app, key_file):
    actor = create(app)
    reply = post(app, name="db", value={"host": "h", "port": 5432}, is_secret=False, actors=actor["id"])
    assert reply.status == 200 and reply.message == "Config created successfully."
    assert reply.result["value"] == {"host": "h", "port": 5432} and reply.result["actors"] == actor["id"]
    assert reply.result["owner"] == "alice" and reply.result["_links"]["self"].endswith("/actors/v2/configs/db")

    assert call(app, "GET", "/actors/configs/db").result["name"] == "db"
    assert [c["name"] for c in call(app, "GET", "/actors/configs").result] == ["db"]

    reply = call(app, "PUT", "/actors/configs/db", json_body={"value": "s3cret", "isSecret": True})
    assert reply.status == 200 and reply.result["is_secret"] is True
    assert "s3cret" not in reply.body.decode() and "s3cret" not in call(app, "GET", "/actors/configs/db").body.decode()
    stored = configs.ConfigCipher.from_file(str(key_file)).decrypt(reply.result["value"])
    assert json.loads(stored) == "s3cret", "the stored ciphertext is what is shown"
    assert reply.result["actors"] == actor["id"], "left out: kept"

    assert call(app, "DELETE", "/actors/configs/db").message == "Config deleted successfully."
    assert call(app, "GET", "/actors/configs/db").status == 404
    assert call(app, "GET", "/actors/configs").result == []


def test_form_bodies_and_camel_case(app):
    actor = create(app)
    reply = call(
        app, "POST", "/actors/configs", form={"name": "f", "value": "v", "isSecret": "false", "actors": actor["id"]}
    )
    assert reply.status == 200 and (reply.result["value"], reply.result["is_secret"]) == ("v", False)


@pytest.mark.parametrize(
    "fields, status, fragment",
    [
        ({"value": 1, "is_secret": False}, 400, "Invalid name"),
        ({"name": "c", "is_secret": False}, 400, "Invalid value"),
        ({"name": "c", "value": 1}, 400, "Invalid is_secret"),
        ({"name": "c", "value": 1, "is_secret": "perhaps"}, 400, "Invalid is_secret"),
        ({"name": "utilization", "value": 1, "is_secret": False}, 400, "reserved"),
        ({"name": "a:b", "value": 1, "is_secret": False}, 400, "Invalid name"),
        ({"name": "c", "value": 1, "is_secret": False, "actors": ""}, 400, "Invalid actors"),
        ({"name": "c", "value": 1, "is_secret": False, "actors": "nope"}, 400, "no actor found with identifier: nope"),
        ({"name": "c", "value": 1, "is_secret": False, "colour": 1}, 400, "Unknown field: colour"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(app, fields, status, fragment):
    actor = create(app)
    fields = {"actors": actor["id"], **fields}
    reply = post(app, **fields)
    assert reply.status == status and fragment in reply.message, reply.json
    assert configs.count_for("dev") == 0


def test_naming_an_actor_needs_update_on_it(app):
    bobs = create(app, user="bob")
    assert post(app, name="c", value=1, is_secret=False, actors=bobs["id"]).status == 400, "invisible: unknown"
    permissions.grant("dev", f"dev_{bobs['id']}", "alice", Permission.READ)
    reply = post(app, name="c", value=1, is_secret=False, actors=bobs["id"])
    assert reply.status == 403 and "UPDATE" in reply.message
    permissions.grant("dev", f"dev_{bobs['id']}", "alice", Permission.UPDATE)
    assert post(app, name="c", value=1, is_secret=False, actors=bobs["id"]).status == 200


def test_a_config_is_seen_only_with_a_level_on_it(app):
    actor = create(app)
    assert post(app, name="c", value=1, is_secret=False, actors=actor["id"]).status == 200
    assert call(app, "GET", "/actors/configs/c", user="bob").status == 404
    assert call(app, "GET", "/actors/configs", user="bob").result == []
    assert call(app, "GET", "/actors/configs/c", tenant="other").status == 404
    assert call(app, "GET", "/actors/configs", user="root", roles=(Role.ADMIN,)).result[0]["name"] == "c"
    permissions.grant("dev", "dev_config:c", "bob", Permission.READ)
    assert call(app, "GET", "/actors/configs/c", user="bob").status == 200
    assert [c["name"] for c in call(app, "GET", "/actors/configs", user="bob").result] == ["c"]
    assert call(app, "PUT", "/actors/configs/c", user="bob", json_body={"value": 2}).status == 403
    assert call(app, "DELETE", "/actors/configs/c", user="bob").status == 403


def test_list_pages_and_counts(app):
    actor = create(app)
    for i in range(3):
        post(app, name=f"c{i}", value=i, is_secret=False, actors=actor["id"])
    reply = call(app, "GET", "/actors/configs?limit=2&skip=1")
    assert [c["name"] for c in reply.result] == ["c1", "c0"] and reply.headers["X-Total-Count"] == "3"
    assert call(app, "GET", "/actors/configs?limit=-1").status == 400


def test_collection_methods_and_prefixes(app):
    assert call(app, "DELETE", "/actors/configs").status == 405
    assert call(app, "PUT", "/actors/configs", json_body={}).status == 405
    assert call(app, "GET", "/actors/v2/configs").status == 200
    assert call(app, "GET", "/v3/actors/configs/missing").status == 404


def test_a_secret_without_a_key_is_refused(mongo, broker, tmp_path):
    cfg = dataclasses.replace(CFG, general=dataclasses.replace(CFG.general, config_key_file=str(tmp_path / "missing")))
    app = make_app(cfg, AUTH, broker)
    actor = create(app)
    reply = post(app, name="c", value=1, is_secret=True, actors=actor["id"])
    assert reply.status == 500 and "config_key_file" in reply.message
    assert post(app, name="c", value=1, is_secret=False, actors=actor["id"]).status == 200
