"""Private registries' credentials: which registry an image names, and the Docker-shaped file."""

from __future__ import annotations

import base64
import json

import pytest

from abaco_shared.errors import DockerError
from abaco_shared.registries import credentials_for, registry_of


@pytest.mark.parametrize(
    "image, registry",
    [
        ("busybox", "docker.io"),
        ("abaco/echo:latest", "docker.io"),
        ("docker.io/library/busybox", "docker.io"),
        ("index.docker.io/abaco/echo", "docker.io"),
        ("registry.example.org/lab/tool:1", "registry.example.org"),
        ("127.0.0.1:5000/lab/tool", "127.0.0.1:5000"),
        ("localhost/tool", "localhost"),
        ("localhost", "docker.io"),
    ],
)
def test_registry_of_follows_dockers_rule(image, registry):
    assert registry_of(image) == registry


def write(tmp_path, doc):
    path = tmp_path / "registries.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_auth_entries_and_username_password_entries_both_work(tmp_path):
    auth = base64.b64encode(b"lab:s3cret:with:colons").decode()
    path = write(
        tmp_path,
        {
            "auths": {
                "registry.example.org:5000": {"auth": auth},
                "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
            }
        },
    )
    assert credentials_for("registry.example.org:5000/lab/tool", path) == {
        "username": "lab",
        "password": "s3cret:with:colons",
    }
    assert credentials_for("abaco/echo", path) == {"username": "hub", "password": "pw"}
    assert credentials_for("other.example.org/x", path) is None


def test_a_missing_file_means_no_credentials(tmp_path):
    assert credentials_for("registry.example.org/x", tmp_path / "absent.json") is None


@pytest.mark.parametrize(
    "doc",
    [
        "{not json",
        {"registry.example.org": {}},
        {"auths": {"registry.example.org": "user:pw"}},
        {"auths": {"registry.example.org": {"auth": "!!!"}}},
        {"auths": {"registry.example.org": {"username": "u"}}},
    ],
)
def test_a_malformed_file_fails_the_pull_naming_the_file_not_the_secret(tmp_path, doc):
    path = write(tmp_path, doc)
    with pytest.raises(DockerError) as err:
        credentials_for("registry.example.org/x", path)
    assert str(path) in err.value.message and "user:pw" not in err.value.message
