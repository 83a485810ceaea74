"""Private registries: the spawner logs in with the credentials of the image's registry.

A registry on 127.0.0.1 (Docker speaks plain HTTP to loopback registries) that asks for Basic
authentication records what the engine sends it, then says the manifest is unknown: the actor goes
to ERROR, and the registry saw the credentials from ``<data_dir>/secrets/registries.json``.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import ROOT

USER, PASSWORD = "lab-user", "s3cret-pw"
CREDENTIALS = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def private_registry():
    seen: list[tuple[str, str]] = []

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            given = self.headers.get("Authorization", "")
            seen.append((self.path, given))
            if given != CREDENTIALS:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Type", "application/json")
                body = b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}'
            elif self.path == "/v2/":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                body = b"{}"
            else:
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                body = b'{"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def registry_credentials(private_registry):
    port, _ = private_registry
    path = ROOT / ".data" / "secrets" / "registries.json"
    before = path.read_bytes() if path.exists() else None
    doc = json.loads(before) if before else {"auths": {}}
    doc["auths"][f"127.0.0.1:{port}"] = {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    path.write_text(json.dumps(doc))
    yield
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(before)


def test_a_pull_from_a_private_registry_sends_its_credentials(client, actors, private_registry, registry_credentials):
    port, seen = private_registry
    image = f"127.0.0.1:{port}/lab/tool:1"
    actor = actors(image)

    failed = client.wait_actor_status(actor["id"], "ERROR", timeout=60)

    assert any(auth == CREDENTIALS and path != "/v2/" for path, auth in seen), seen
    assert image in failed["status_message"] and "on host " in failed["status_message"]
    assert PASSWORD not in failed["status_message"]


def test_without_credentials_the_engine_sends_none(client, actors, private_registry):
    port, seen = private_registry
    actor = actors(f"127.0.0.1:{port}/lab/other:1")

    client.wait_actor_status(actor["id"], "ERROR", timeout=60)

    assert seen and all(auth == "" for _, auth in seen), seen
