"""Fixtures for end-to-end tests against the running stack (started by ``make up``).

When the stack is unreachable these tests skip, unless ``ABACO_REQUIRE_SERVICES=1`` (set by CI),
which turns every such skip into a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from abaco_shared.auth import Authenticator
from abaco_shared.config import load_config
from abaco_shared.enums import Role

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = os.environ.get("ABACO_URL", "http://127.0.0.1:8000")
REQUIRED = os.environ.get("ABACO_REQUIRE_SERVICES") == "1"
INFRA = {"mongodb": 27017, "rabbitmq": 5672, "redis": 6379, "nginx": 8000}


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"ABACO_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def stack() -> str:
    for name, port in INFRA.items():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            _unavailable(f"{name} is not answering on 127.0.0.1:{port} (run `make up`)")
    try:
        docker_ok = subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        docker_ok = False
    if not docker_ok:
        _unavailable("no Docker engine answers `docker info`")
    try:
        status = requests.get(f"{BASE_URL}/actors", timeout=5).status_code
    except requests.RequestException as exc:
        _unavailable(f"the API at {BASE_URL} is not answering: {exc}")
    if status != 401:
        _unavailable(f"the API at {BASE_URL} answered {status} to an unauthenticated request, not 401")
    return BASE_URL


@pytest.fixture(scope="session")
def authenticator() -> Authenticator:
    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})
    return Authenticator.from_file(cfg.auth)


_SNAKE_FIELD = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+")
_CAMEL_FIELD = re.compile(r"[a-z0-9]+(?:[A-Z][a-z0-9]*)+")


def _to_camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _to_snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


class Client:
    """A tiny API client for tests: one user in one tenant.

    With ``case="camel"`` it asks the API for camelCase answers (``X-Abaco-Case: camel``), sends
    actor fields in camelCase, checks that every top-level field of a result came back in
    camelCase, and hands the test snake_case keys: the same tests then prove both modes.
    """

    def __init__(self, base: str, token: str, case: str = "snake") -> None:
        self.base = base
        self.case = case
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        if case == "camel":
            self.session.headers["X-Abaco-Case"] = "camel"

    def _from_case(self, result):
        if self.case != "camel":
            return result
        if isinstance(result, list):
            return [self._from_case(item) for item in result]
        if not isinstance(result, dict):
            return result
        snake = [k for k in result if _SNAKE_FIELD.fullmatch(k)]
        assert not snake, f"camel mode answered snake_case fields: {snake}"
        return {(_to_snake(k) if _CAMEL_FIELD.fullmatch(k) else k): v for k, v in result.items()}

    def call(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", timeout=30, **kw)

    def ok(self, method: str, path: str, **kw) -> dict:
        resp = self.call(method, path, **kw)
        assert resp.status_code == 200, f"{method} {path} -> {resp.status_code}: {resp.text}"
        body = resp.json()
        assert body["status"] == "success"
        return self._from_case(body["result"])

    def result(self, resp: requests.Response):
        """The result of a successful answer, in snake_case whatever the mode."""
        assert resp.status_code == 200, resp.text
        return self._from_case(resp.json()["result"])

    def register(self, image: str, **fields) -> dict:
        if self.case == "camel":
            fields = {_to_camel(k): v for k, v in fields.items()}
        return self.ok("POST", "/actors", json={"image": image, **fields})

    def send(self, actor_id: str, message: str | dict, **params) -> str:
        if isinstance(message, dict):
            result = self.ok("POST", f"/actors/{actor_id}/messages", json=message, params=params)
        else:
            result = self.ok("POST", f"/actors/{actor_id}/messages", data={"message": message}, params=params)
        return result["execution_id"]

    def wait_execution(
        self, actor_id: str, execution_id: str, timeout: float = 60, statuses: tuple[str, ...] = ("COMPLETE", "ERROR")
    ) -> dict:
        """Poll the execution until its status is one of ``statuses`` (by default: terminal)."""
        deadline = time.monotonic() + timeout
        while True:
            ex = self.ok("GET", f"/actors/{actor_id}/executions/{execution_id}")
            if ex["status"] in statuses:
                return ex
            assert time.monotonic() < deadline, f"execution {execution_id} still {ex['status']} after {timeout}s"
            time.sleep(0.05)

    def wait_actor_status(self, actor_id: str, status: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            actor = self.ok("GET", f"/actors/{actor_id}")
            if actor["status"] == status:
                return actor
            assert time.monotonic() < deadline, f"actor {actor_id} still {actor['status']}, wanted {status}"
            time.sleep(0.1)

    def logs(self, actor_id: str, execution_id: str) -> str:
        return self.ok("GET", f"/actors/{actor_id}/executions/{execution_id}/logs")["logs"]


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test: tests never see each other's actors."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_client(stack, authenticator, case):
    def make(user: str, tenant: str, role: Role = Role.USER) -> Client:
        return Client(stack, authenticator.mint(user, tenant, [role]), case)

    return make


def pytest_generate_tests(metafunc):
    """A module that sets ``CASE_MODES = ("snake", "camel")`` runs every test in both modes."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", getattr(metafunc.module, "CASE_MODES", ("snake",)))


@pytest.fixture
def client(make_client, tenant) -> Client:
    return make_client("alice", tenant)


@pytest.fixture
def actors(client):
    """Actors registered through this fixture are deleted after the test."""
    made: list[str] = []

    def register(image: str, **fields) -> dict:
        actor = client.register(image, **fields)
        made.append(actor["id"])
        return actor

    yield register
    for actor_id in made:
        client.call("DELETE", f"/actors/{actor_id}")


def supervisorctl(*args: str) -> str:
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "supervisorctl"), "-c", str(ROOT / "supervisord.conf"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout + out.stderr
