"""No tenant can starve another through image pulls: a registry that never answers (a socket on
127.0.0.1 that accepts and stays silent) delays only the actor that uses it."""

from __future__ import annotations

import socket
import threading
import time

import pytest


@pytest.fixture
def silent_registry():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.5)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


def _cold_start(client, actors) -> float:
    started = time.monotonic()
    actor = actors("abaco/echo:latest")
    ex = client.wait_execution(actor["id"], client.send(actor["id"], "hi"), timeout=30)
    assert ex["status"] == "COMPLETE"
    return time.monotonic() - started


def test_a_registry_that_never_answers_delays_no_one_else(client, actors, silent_registry):
    baseline = _cold_start(client, actors)
    image = f"127.0.0.1:{silent_registry}/silent/never:latest"
    stuck = actors(image)
    time.sleep(0.3)  # its worker is now in PULLING IMAGE
    (worker,) = client.ok("GET", f"/actors/{stuck['id']}/workers")
    assert worker["status"] == "PULLING IMAGE"
    during = _cold_start(client, actors)
    assert during <= baseline + 1.0, f"cold start {during:.2f}s while another actor pulls (baseline {baseline:.2f}s)"

    failed = client.wait_actor_status(stuck["id"], "ERROR", timeout=150)
    assert image in failed["status_message"] and "on host " in failed["status_message"]
    assert client.ok("GET", f"/actors/{stuck['id']}/workers") == []
