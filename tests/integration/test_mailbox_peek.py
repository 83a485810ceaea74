"""GET /actors/{id}/messages?count=N shows the next pending messages without consuming them;
DELETE purges them."""

from __future__ import annotations


def test_peek_does_not_consume_and_purge_does(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "60"})
    aid = actor["id"]
    busy = client.send(aid, "first")  # keeps the actor's one worker busy
    client.wait_execution(aid, busy, timeout=60, statuses=("RUNNING",))
    waiting = [client.send(aid, "second", colour="blue"), client.send(aid, {"n": 3})]

    peek = client.ok("GET", f"/actors/{aid}/messages", params={"count": 5})

    assert peek["messages"] == 2
    assert [p["execution_id"] for p in peek["pending"]] == waiting
    first, second = peek["pending"]
    assert (first["message"], first["content_type"], first["params"]) == ("second", "str", {"colour": "blue"})
    assert (second["message"], second["content_type"]) == ({"n": 3}, "application/json")
    assert first["executor"] == "alice" and first["message_received_time"]
    # a peek consumes nothing: the same answer again, and the messages are still queued
    again = client.ok("GET", f"/actors/{aid}/messages", params={"count": 1})
    assert again["messages"] == 2 and again["pending"] == [first]
    assert "pending" not in client.ok("GET", f"/actors/{aid}/messages")

    bad = client.call("GET", f"/actors/{aid}/messages", params={"count": 0})
    assert bad.status_code == 400 and "from 1 to 100" in bad.json()["message"]

    purged = client.ok("DELETE", f"/actors/{aid}/messages")
    assert purged["msg"] == "Actor mailbox purged."
    after = client.ok("GET", f"/actors/{aid}/messages", params={"count": 5})
    assert after["messages"] == 0 and after["pending"] == []
    for execution_id in waiting:
        ex = client.ok("GET", f"/actors/{aid}/executions/{execution_id}")
        assert (ex["status"], ex["outcome"], ex["dead_letter"]) == ("ERROR", "NOT_STARTED", None)
    assert client.ok("GET", f"/actors/{aid}/executions/{busy}")["status"] == "RUNNING"  # already taken
    client.call("DELETE", f"/actors/{aid}/executions/{busy}")
