"""Linked actors: a link names an actor the caller may execute, never itself, never a cycle."""

from __future__ import annotations


def test_a_link_that_would_close_a_cycle_is_a_400(client, actors):
    a = actors("abaco/echo:latest")
    b = actors("abaco/echo:latest", link=a["id"])
    resp = client.call("PUT", f"/actors/{a['id']}", json={"link": b["id"]})
    assert resp.status_code == 400 and "cycle of linked actors" in resp.json()["message"]
    resp = client.call("PUT", f"/actors/{a['id']}", json={"link": a["id"]})
    assert resp.status_code == 400 and "itself" in resp.json()["message"]
    resp = client.call("POST", "/actors", json={"image": "abaco/echo:latest", "link": "no-such-actor"})
    assert resp.status_code == 404 and resp.json()["status"] == "error"
    assert client.ok("GET", f"/actors/{b['id']}")["link"] == a["id"]
