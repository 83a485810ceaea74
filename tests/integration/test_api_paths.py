"""Wire details real clients rely on: the v2 and v3 path prefixes, merged slashes, and an exact
``Content-Type: application/json`` (tapipy hands back raw bytes for anything else)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("prefix", ["/actors", "/actors/v2", "/v3/actors"])
def test_every_prefix_reaches_the_same_api(client, actors, prefix):
    actor = actors("abaco/echo:latest")
    listed = client.ok("GET", prefix)
    assert actor["id"] in {a["id"] for a in listed}
    assert client.ok("GET", f"{prefix}/{actor['id']}")["id"] == actor["id"]
    execution = client.ok("POST", f"{prefix}/{actor['id']}/messages", data={"message": "hi"})["execution_id"]
    assert client.wait_execution(actor["id"], execution)["status"] == "COMPLETE"
    assert "message: hi" in client.ok("GET", f"{prefix}/{actor['id']}/executions/{execution}/logs")["logs"]
    assert isinstance(client.ok("GET", f"{prefix}/{actor['id']}/workers"), list)


def test_repeated_slashes_are_one(client, actors):
    actor = actors("abaco/echo:latest")
    assert client.ok("GET", f"/actors//{actor['id']}///messages")["messages"] >= 0
    assert client.ok("GET", f"//actors/v2//{actor['id']}")["id"] == actor["id"]


def test_json_replies_say_application_json_exactly(client, actors):
    actor = actors("abaco/echo:latest")
    for method, path in (("GET", "/actors"), ("GET", f"/actors/{actor['id']}"), ("GET", "/actors/nope/x/y")):
        resp = client.call(method, path)
        assert resp.headers["Content-Type"] == "application/json", (path, resp.headers["Content-Type"])
    resp = client.call("GET", "/not-the-api")  # nginx's own error page
    assert resp.status_code == 404 and resp.headers["Content-Type"] == "application/json"
