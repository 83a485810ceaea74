"""An execution's logs while it runs, and ?follow=true: its output streamed until it ends."""

from __future__ import annotations

import time

TICKS = 12  # abaco/ticker: "tick N" every 0.5 s, then "done"
WHOLE = "".join(f"tick {n}\n" for n in range(1, TICKS + 1)) + "done\n"


def test_logs_are_readable_while_the_execution_runs(client, actors):
    actor = actors("abaco/ticker:latest")
    eid = client.send(actor["id"], "go")
    client.wait_execution(actor["id"], eid, timeout=60, statuses=("RUNNING",))

    deadline = time.monotonic() + 20
    while True:  # the worker copies the output about once a second once it has run 1 s
        ex = client.ok("GET", f"/actors/{actor['id']}/executions/{eid}")
        partial = client.logs(actor["id"], eid)
        if partial.startswith("tick 1\n") and ex["status"] == "RUNNING":
            break
        assert ex["status"] == "RUNNING", f"the execution ended before its logs were seen running: {partial!r}"
        assert time.monotonic() < deadline, "no logs while running"
        time.sleep(0.2)
    assert "done" not in partial and WHOLE.startswith(partial)

    ex = client.wait_execution(actor["id"], eid, timeout=60)
    assert ex["outcome"] == "SUCCESS"
    assert client.logs(actor["id"], eid) == WHOLE


def test_follow_streams_the_whole_output_and_ends_with_the_execution(client, actors):
    actor = actors("abaco/ticker:latest")
    eid = client.send(actor["id"], "go")
    client.wait_execution(actor["id"], eid, timeout=60, statuses=("RUNNING",))

    chunks: list[str] = []
    with client.session.get(
        f"{client.base}/actors/{actor['id']}/executions/{eid}/logs",
        params={"follow": "true"},
        stream=True,
        timeout=60,
    ) as resp:
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"].startswith("text/plain")
        for chunk in resp.iter_content(chunk_size=None, decode_unicode=True):
            chunks.append(chunk)
            if len(chunks) == 1:  # the first output arrives while the execution still runs
                assert client.ok("GET", f"/actors/{actor['id']}/executions/{eid}")["status"] == "RUNNING"

    assert "".join(chunks) == WHOLE
    assert len(chunks) > 1, "the output came in pieces as it grew"
    # the stream closed because the execution ended
    assert client.ok("GET", f"/actors/{actor['id']}/executions/{eid}")["status"] == "COMPLETE"


def test_follow_of_a_finished_execution_is_its_logs(client, actors):
    actor = actors("abaco/echo:latest")
    eid = client.send(actor["id"], "hello")
    client.wait_execution(actor["id"], eid)
    resp = client.call("GET", f"/actors/{actor['id']}/executions/{eid}/logs", params={"follow": "1"})
    assert resp.status_code == 200 and resp.text == client.logs(actor["id"], eid)
    assert "message: hello" in resp.text


def test_follows_per_user_are_bounded(client, actors):
    actor = actors("abaco/ticker:latest", default_environment={"TICKS": "120"})
    eid = client.send(actor["id"], "long")
    client.wait_execution(actor["id"], eid, timeout=60, statuses=("RUNNING",))
    url = f"{client.base}/actors/{actor['id']}/executions/{eid}/logs"
    held = []
    try:
        for _ in range(2):  # two follows, each holding its slot once its first output arrived
            resp = client.session.get(url, params={"follow": "true"}, stream=True, timeout=60)
            assert resp.status_code == 200 and next(resp.iter_content(chunk_size=None)).startswith(b"tick")
            held.append(resp)
        refused = client.call("GET", url[len(client.base) :], params={"follow": "true"})
        assert refused.status_code == 429, refused.text
        assert "Too many log follows" in refused.json()["message"]
        assert client.logs(actor["id"], eid).startswith("tick 1\n")  # reading without follow still works
    finally:
        client.call("DELETE", f"/actors/{actor['id']}/executions/{eid}")  # ends the held follows
        for resp in held:
            resp.close()
