"""A message runs a fresh container of the actor's image and its execution is recorded."""

from __future__ import annotations

import subprocess

import pytest

# the core flows run against the API in both key cases (reference 1.1: clients exist for both)
CASE_MODES = ("snake", "camel")


def test_three_messages_three_complete_executions(client, actors):
    actor = actors("abaco/echo:latest", name="echo")
    assert actor["status"] == "SUBMITTED" and actor["revision"] == 1
    sent = {client.send(actor["id"], f"hello-{i}"): f"hello-{i}" for i in range(3)}
    for execution_id, text in sent.items():
        ex = client.wait_execution(actor["id"], execution_id)
        assert ex["status"] == "COMPLETE", ex
        assert ex["outcome"] == "SUCCESS"
        assert ex["exit_code"] == 0
        assert isinstance(ex["runtime"], int) and ex["runtime"] >= 0
        assert isinstance(ex["cpu"], int) and ex["cpu"] >= 0
        assert isinstance(ex["io"], int) and ex["io"] >= 0
        assert ex["start_time"] and ex["finish_time"] and ex["message_received_time"]
        assert ex["executor"] == "alice" and ex["worker_id"]
        logs = client.logs(actor["id"], execution_id)
        assert f"message: {text}" in logs
        assert f"execution: {execution_id}" in logs
        assert "content-type: str" in logs
    summary = client.ok("GET", f"/actors/{actor['id']}/executions")
    assert summary["total_executions"] == 3
    assert {e["id"] for e in summary["executions"]} == set(sent)
    assert all(e["status"] == "COMPLETE" for e in summary["executions"])
    assert summary["total_cpu"] >= 0 and summary["total_runtime"] >= 0
    assert client.ok("GET", f"/actors/{actor['id']}")["status"] == "READY"


def test_cpu_is_measured_from_the_cgroup(client, actors):
    actor = actors("abaco/python3:latest")
    ex = client.wait_execution(actor["id"], client.send(actor["id"], "count"), timeout=120)
    assert ex["exit_code"] == 0
    assert ex["cpu"] > 1_000_000, "a python3 start-up uses well over 1 ms of CPU"
    assert "message: count" in client.logs(actor["id"], ex["id"])


def test_json_message_reaches_the_container_as_python_repr_and_json(client, actors):
    actor = actors("abaco/echo:latest")
    execution_id = client.send(actor["id"], {"k": "v", "n": 1}, colour="blue")
    ex = client.wait_execution(actor["id"], execution_id)
    logs = client.logs(actor["id"], execution_id)
    assert "message: {'k': 'v', 'n': 1}" in logs
    assert "content-type: application/json" in logs
    assert ex["params"] == {"colour": "blue"}
    assert ex["message"] == {"k": "v", "n": 1}


@pytest.mark.parametrize(
    "message",
    [
        {"$ref": "actors", "$id": 1},  # MongoDB reads such a sub-document back as a DBRef
        {"x": {"$ref": "executions", "$id": "abc", "$db": "abaco", "extra": [1]}},
        {"schemas": [{"$id": "https://example.org/s", "$ref": "#/definitions/a"}]},  # a JSON Schema
        {"_cls": "c", "a": 1},  # mongoengine's class marker
        {"items": [{"_cls": "Actor"}, {"y": {"_cls": "Execution"}}]},
    ],
)
def test_a_json_message_shaped_like_a_database_reference_reads_back_as_sent(client, actors, message):
    actor = actors("abaco/echo:latest")
    aid = actor["id"]
    execution_id = client.send(aid, message)
    ex = client.wait_execution(aid, execution_id)
    assert ex["status"] == "COMPLETE" and ex["message"] == message
    assert client.ok("GET", f"/actors/{aid}/executions/{execution_id}")["message"] == message
    found = client.ok("GET", "/actors/search/executions", params={"actor_id": aid})["search"]
    assert [e["message"] for e in found] == [message]


def test_variables_named_like_mongoengine_markers_read_back_as_sent(client, actors):
    # "_cls" in a stored dict once made mongoengine look for a document class: every read of the
    # actor (and every listing holding it), or of the execution, answered 500
    aid = actors("abaco/echo:latest", default_environment={"_cls": "c"})["id"]
    assert client.ok("GET", f"/actors/{aid}")["default_environment"] == {"_cls": "c"}
    assert aid in {a["id"] for a in client.ok("GET", "/actors")}
    client.wait_actor_status(aid, "READY", timeout=60)
    execution_id = client.send(aid, "hi", _cls="d")
    ex = client.wait_execution(aid, execution_id)
    assert ex["status"] == "COMPLETE" and ex["params"] == {"_cls": "d"}
    found = client.ok("GET", "/actors/search/executions", params={"actor_id": aid})["search"]
    assert [e["params"] for e in found] == [{"_cls": "d"}]


def test_plain_text_body_is_a_string_message(client, actors):
    actor = actors("abaco/echo:latest")
    resp = client.call(
        "POST", f"/actors/{actor['id']}/messages", data=b"raw text", headers={"Content-Type": "text/plain"}
    )
    execution_id = client.result(resp)["execution_id"]
    client.wait_execution(actor["id"], execution_id)
    assert "message: raw text" in client.logs(actor["id"], execution_id)


def test_failing_command_records_its_exit_code(client, actors):
    actor = actors("abaco/fail:latest")
    ex = client.wait_execution(actor["id"], client.send(actor["id"], "doomed"))
    assert ex["status"] == "COMPLETE"
    assert ex["exit_code"] == 3
    assert ex["outcome"] == "FAILED"
    assert "failing: doomed" in client.logs(actor["id"], ex["id"])


def test_containers_are_removed_after_execution(client, actors):
    actor = actors("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "tidy"))
    workers = client.ok("GET", f"/actors/{actor['id']}/workers")
    assert len(workers) == 1
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=abaco.worker={workers[0]['id']}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == ""


def test_mailbox_count_and_workers_listing(client, actors):
    actor = actors("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "warm"))
    assert client.ok("GET", f"/actors/{actor['id']}/messages")["messages"] == 0
    workers = client.ok("GET", f"/actors/{actor['id']}/workers")
    assert len(workers) == 1
    w = workers[0]
    assert w["status"] in ("READY", "BUSY") and w["ch_name"] == f"worker_{w['id']}" and w["tenant"]
    assert w["pid"] and w["host_id"]


@pytest.mark.parametrize("image", ["abaco/echo:latest"])
def test_update_with_new_image_replaces_the_worker(client, actors, image):
    actor = actors(image)
    client.wait_execution(actor["id"], client.send(actor["id"], "first"))
    updated = client.ok("PUT", f"/actors/{actor['id']}", json={"image": "abaco/fail:latest"})
    assert updated["revision"] == 2 and updated["status"] == "SUBMITTED"
    ex = client.wait_execution(actor["id"], client.send(actor["id"], "second"))
    assert ex["exit_code"] == 3, "the new revision runs the new image"
    same = client.ok("PUT", f"/actors/{actor['id']}", json={"image": "abaco/fail:latest", "description": "d"})
    assert same["revision"] == 2 and same["description"] == "d"


def test_json_body_with_a_message_field_is_a_string_message(client, actors):
    actor = actors("abaco/echo:latest")
    resp = client.ok("POST", f"/actors/{actor['id']}/messages", json={"message": "as text", "extra": 1})
    ex = client.wait_execution(actor["id"], resp["execution_id"])
    assert ex["content_type"] == "str"
    assert "message: as text" in client.logs(actor["id"], ex["id"])


def test_synchronous_message_returns_the_logs_once_complete(client, actors):
    actor = actors("abaco/echo:latest")
    resp = client.call(
        "POST", f"/actors/{actor['id']}/messages", data={"message": "sync hello"}, params={"_abaco_synchronous": "true"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert "message: sync hello" in resp.text
    execution_id = resp.headers["X-Abaco-Execution-Id"]
    ex = client.ok("GET", f"/actors/{actor['id']}/executions/{execution_id}")
    assert ex["status"] == "COMPLETE" and ex["params"] == {"_abaco_synchronous": "true"}
    assert (resp.headers["X-Abaco-Outcome"], resp.headers["X-Abaco-Exit-Code"]) == ("SUCCESS", "0")


def test_a_synchronous_answer_says_how_a_failed_execution_ended(client, actors):
    """The logs of a container that failed come back as they are (200, the original's answer),
    with the execution's outcome and exit code in headers, so a caller need not ask again."""
    actor = actors("abaco/fail:latest")
    resp = client.call(
        "POST", f"/actors/{actor['id']}/messages", data={"message": "x"}, params={"_abaco_synchronous": "true"}
    )
    assert resp.status_code == 200 and "failing: x" in resp.text, resp.text
    assert resp.headers["X-Abaco-Answer"] == "logs"
    assert (resp.headers["X-Abaco-Outcome"], resp.headers["X-Abaco-Exit-Code"]) == ("FAILED", "3")
