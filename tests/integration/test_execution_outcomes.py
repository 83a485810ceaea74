"""An execution keeps its input (message, parameters, sender) and tells a success, a non-zero
exit and a timeout apart (``outcome``), while ``status`` stays COMPLETE for older clients."""

from __future__ import annotations


def test_success_failure_and_timeout_are_told_apart(client, actors):
    echo = actors("abaco/echo:latest")
    fail = actors("abaco/fail:latest")
    slow = actors("abaco/sleep:latest", max_run_time=2, default_environment={"SLEEP_SECONDS": "30"})
    sent = {
        "SUCCESS": (echo["id"], client.send(echo["id"], {"k": "v"}, colour="blue")),
        "FAILED": (fail["id"], client.send(fail["id"], "doomed")),
        "TIMED_OUT": (slow["id"], client.send(slow["id"], "slow")),
    }
    seen = {outcome: client.wait_execution(aid, eid, timeout=90) for outcome, (aid, eid) in sent.items()}

    for outcome, ex in seen.items():
        assert ex["status"] == "COMPLETE" and ex["outcome"] == outcome, ex
        assert ex["executor"] == "alice" and ex["dead_letter"] is None
    ok, failed, timed_out = seen["SUCCESS"], seen["FAILED"], seen["TIMED_OUT"]
    assert (ok["exit_code"], ok["message"], ok["content_type"], ok["params"]) == (
        0,
        {"k": "v"},
        "application/json",
        {"colour": "blue"},
    )
    assert failed["exit_code"] == 3 and failed["message"] == "doomed" and failed["content_type"] == "str"
    assert timed_out["exit_code"] != 0 and timed_out["limits"]["run_time"] == 2
    assert "maximum run time of 2 s" in timed_out["status_message"]
    assert timed_out["runtime"] < 30_000
    search = client.ok("GET", "/actors/search/executions", params={"outcome": "TIMED_OUT"})
    assert [e["id"] for e in search["search"]] == [timed_out["id"]]
