"""Results end to end: a real container sends datagrams to /_abaco_results.sock; they are read back
in order, one per GET, or listed; a synchronous call answers with the first one, else the logs, or
times out (per-call timeout) naming the execution, which keeps running."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from abaco_shared.config import load_config

from .conftest import ROOT


def results_of(client, actor_id: str, execution_id: str, query: str = ""):
    return client.call("GET", f"/actors/{actor_id}/executions/{execution_id}/results{query}")


def socket_dir() -> Path:
    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})
    return Path(cfg.worker.socket_dir or cfg.data_path / "sockets")


def test_three_results_come_back_in_order_one_per_call_then_nothing(client, actors):
    actor = actors("abaco/results:latest")
    ex_id = client.send(actor["id"], "go")
    ex = client.wait_execution(actor["id"], ex_id)
    assert (ex["status"], ex["exit_code"], ex["status_message"]) == ("COMPLETE", 0, ""), ex

    listed = client.ok("GET", f"/actors/{actor['id']}/executions/{ex_id}/results?all=true")  # consumes none
    assert listed["total"] == 3
    assert [(r["index"], base64.b64decode(r["data"]), r["consumed"]) for r in listed["results"]] == [
        (0, b"one", False),
        (1, b"two", False),
        (2, b"three", False),
    ]

    answers = [results_of(client, actor["id"], ex_id) for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert [a.content for a in answers] == [b"one", b"two", b"three", b""]
    assert answers[0].headers["Content-Type"] == "application/octet-stream"

    after = client.ok("GET", f"/actors/{actor['id']}/executions/{ex_id}/results?all=true")
    assert [r["consumed"] for r in after["results"]] == [True, True, True]
    assert "sent: three" in client.logs(actor["id"], ex_id)
    assert not list(socket_dir().glob(f"*/{ex_id}.sock")), "the socket file outlived its execution"


def test_results_of_an_unknown_execution_are_404_and_another_tenant_sees_nothing(client, actors, make_client):
    actor = actors("abaco/results:latest")
    ex_id = client.send(actor["id"], "go")
    client.wait_execution(actor["id"], ex_id)

    assert results_of(client, actor["id"], "NOPE").status_code == 404
    stranger = make_client("mallory", "elsewhere")
    assert results_of(stranger, actor["id"], ex_id).status_code == 404
    assert results_of(client, actor["id"], ex_id).content == b"one"  # the stranger consumed nothing


def test_a_synchronous_call_answers_with_the_first_result(client, actors):
    actor = actors("abaco/results:latest")

    reply = client.call("POST", f"/actors/{actor['id']}/messages?_abaco_synchronous=true", data={"message": "go"})

    assert reply.status_code == 200, reply.text
    assert reply.content == b"one" and reply.headers["X-Abaco-Answer"] == "result"
    assert reply.headers["Content-Type"] == "application/octet-stream"
    ex_id = reply.headers["X-Abaco-Execution-Id"]
    client.wait_execution(actor["id"], ex_id)
    assert [results_of(client, actor["id"], ex_id).content for _ in range(3)] == [b"two", b"three", b""]


def test_a_synchronous_call_answers_before_the_execution_ends(client, actors):
    actor = actors("abaco/results:latest", default_environment={"SLEEP_AFTER": "30"})

    reply = client.call(
        "POST", f"/actors/{actor['id']}/messages?_abaco_synchronous=true&_abaco_sync_timeout=25", data={"message": "go"}
    )

    assert reply.status_code == 200 and reply.content == b"one", reply.text
    ex = client.ok("GET", f"/actors/{actor['id']}/executions/{reply.headers['X-Abaco-Execution-Id']}")
    assert ex["status"] == "RUNNING"  # still sleeping: the answer did not wait for the end


def test_a_synchronous_call_without_results_answers_with_the_logs(client, actors):
    actor = actors("abaco/echo:latest")

    reply = client.call(
        "POST", f"/actors/{actor['id']}/messages?_abaco_synchronous=true", data={"message": "plain logs"}
    )

    assert reply.status_code == 200, reply.text
    assert b"plain logs" in reply.content and reply.headers["X-Abaco-Answer"] == "logs"


def test_a_synchronous_call_over_its_own_timeout_names_the_execution_which_completes_later(client, actors):
    actor = actors("abaco/sleep:latest", default_environment={"SLEEP_SECONDS": "6"})

    reply = client.call(
        "POST",
        f"/actors/{actor['id']}/messages?_abaco_synchronous=true&_abaco_sync_timeout=2",
        data={"message": "slow"},
    )

    assert reply.status_code == 504, reply.text
    body = reply.json()
    assert body["status"] == "error" and body["result"] is None
    [ex] = client.ok("GET", f"/actors/{actor['id']}/executions")["executions"]
    assert ex["id"] in body["message"]
    assert client.ok("GET", f"/actors/{actor['id']}/executions/{ex['id']}")["status"] in ("SUBMITTED", "RUNNING")
    done = client.wait_execution(actor["id"], ex["id"], timeout=90)
    assert (done["status"], done["exit_code"]) == ("COMPLETE", 0)
    assert "slept: slow" in client.logs(actor["id"], ex["id"])
    assert "_abaco_sync_timeout" not in client.logs(actor["id"], ex["id"])


def test_a_bad_per_call_timeout_is_a_400(client, actors):
    actor = actors("abaco/echo:latest")

    reply = client.call(
        "POST",
        f"/actors/{actor['id']}/messages?_abaco_synchronous=true&_abaco_sync_timeout=100000",
        data={"message": "x"},
    )

    assert reply.status_code == 400 and "_abaco_sync_timeout" in reply.json()["message"]
    assert client.ok("GET", f"/actors/{actor['id']}/executions")["total_executions"] == 0
