"""The actor-side helper: parsing the context an actor container gets, and its API calls (against
a tiny HTTP server on 127.0.0.1 standing in for the platform)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import abaco_actor
import pytest
from abaco_actor import AbacoActorError, get_context

# -- get_context ----------------------------------------------------------------------------------


def env(**over: str) -> dict[str, str]:
    base = {
        "MSG": "hello",
        "_abaco_Content_Type": "str",
        "_abaco_actor_id": "A1",
        "_abaco_actor_dbid": "dev_A1",
        "_abaco_execution_id": "E1",
        "_abaco_worker_id": "W1",
        "_abaco_username": "alice",
        "_abaco_api_server": "http://api",
        "_abaco_access_token": "tok",
        "_abaco_actor_name": "None",
        "_abaco_actor_state": "{}",
    }
    return {**base, **over}


def test_a_string_message_is_the_string():
    ctx = get_context(env(MSG="{'not': 'parsed'}"))

    assert ctx.message == "{'not': 'parsed'}" and ctx.content_type == "str"
    assert (ctx.actor_id, ctx.actor_dbid, ctx.execution_id, ctx.worker_id) == ("A1", "dev_A1", "E1", "W1")
    assert (ctx.username, ctx.api_server, ctx.access_token) == ("alice", "http://api", "tok")


def test_a_json_message_prefers_the_exact_json():
    ctx = get_context(
        env(MSG="{'a': True}", _abaco_MSG_JSON='{"a": true, "n": null}', _abaco_Content_Type="application/json")
    )

    assert ctx.message == {"a": True, "n": None}


@pytest.mark.parametrize(
    "raw, value",
    [("{'a': [1, 2.5, None, True]}", {"a": [1, 2.5, None, True]}), ('{"a": null}', {"a": None}), ("7", 7)],
    ids=["python-repr", "json", "number"],
)
def test_a_json_message_without_the_exact_json_parses_the_repr_or_json(raw, value):
    assert get_context(env(MSG=raw, _abaco_Content_Type="application/json")).message == value


def test_the_exact_json_is_ignored_for_a_string_message():
    assert get_context(env(MSG="text", _abaco_MSG_JSON='"other"')).message == "text"


@pytest.mark.parametrize(
    "raw, state",
    [("{'count': 2}", {"count": 2}), ("[1, 'a']", [1, "a"]), ("None", None), ("plain text", "plain text"), ("", None)],
)
def test_the_state_is_parsed_from_its_repr(raw, state):
    assert get_context(env(_abaco_actor_state=raw)).state == state


def test_missing_variables_are_empty():
    ctx = get_context({})

    assert ctx.message == "" and ctx.access_token == "" and ctx.state is None and ctx.raw == {}


def test_the_process_environment_is_the_default(monkeypatch):
    monkeypatch.setenv("MSG", "from the process")
    monkeypatch.setenv("_abaco_actor_id", "A9")

    ctx = get_context()

    assert ctx.message == "from the process" and ctx.actor_id == "A9"


# -- the API calls --------------------------------------------------------------------------------


class Api:
    """Records each request; answers with ``status`` and ``body`` (JSON)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.body: object = {"status": "success", "message": "ok", "result": {}}


@pytest.fixture
def api(monkeypatch):
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "ctype": self.headers.get("Content-Type"),
                    "body": raw,
                }
            )
            payload = json.dumps(state.body).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    for name, value in env(_abaco_api_server=f"http://127.0.0.1:{server.server_port}/").items():
        monkeypatch.setenv(name, value)
    yield state
    server.shutdown()
    server.server_close()


def result(value: object) -> dict:
    return {"status": "success", "message": "ok", "result": value, "version": "1.0.0"}


def test_send_message_posts_a_string_as_a_message_field(api):
    api.body = result({"execution_id": "E9"})

    assert abaco_actor.send_message("B1", "hi there", params={"colour": "blue"}) == "E9"

    [req] = api.requests
    assert (req["method"], req["path"]) == ("POST", "/actors/B1/messages?colour=blue")
    assert req["auth"] == "Bearer tok" and req["ctype"] == "application/json"
    assert json.loads(req["body"]) == {"message": "hi there"}


def test_send_message_posts_json_as_it_is(api):
    api.body = result({"execution_id": "E9"})

    abaco_actor.send_message("B1", {"n": [1, 2]})

    assert json.loads(api.requests[0]["body"]) == {"n": [1, 2]}


def test_get_state_reads_this_actors_state(api):
    api.body = result({"state": {"count": 3}})

    assert abaco_actor.get_state() == {"count": 3}

    assert (api.requests[0]["method"], api.requests[0]["path"]) == ("GET", "/actors/A1/state")
    assert api.requests[0]["body"] == b""


@pytest.mark.parametrize("value", [{"count": 4}, [1], "s", 0, False, None])
def test_update_state_posts_any_json_value(api, value):
    api.body = result({"id": "A1", "state": value})

    assert abaco_actor.update_state(value)["state"] == value

    req = api.requests[0]
    assert (req["method"], req["path"]) == ("POST", "/actors/A1/state")
    assert json.loads(req["body"]) == value  # null is sent as null, not as no body


def test_update_state_of_another_actor(api):
    abaco_actor.update_state(1, actor_id="a/b")

    assert api.requests[0]["path"] == "/actors/a%2Fb/state"


def test_get_execution_defaults_to_this_execution(api):
    api.body = result({"id": "E1", "status": "RUNNING"})

    assert abaco_actor.get_execution()["status"] == "RUNNING"
    abaco_actor.get_execution("E7", actor_id="B1")

    assert [r["path"] for r in api.requests] == ["/actors/A1/executions/E1", "/actors/B1/executions/E7"]


def test_an_api_error_carries_the_apis_status_and_message(api):
    api.status, api.body = 400, {"status": "error", "message": "Actor A1 is stateless.", "result": None}

    with pytest.raises(AbacoActorError) as caught:
        abaco_actor.update_state({"a": 1})

    assert caught.value.status == 400 and "is stateless" in str(caught.value)


def test_an_error_without_an_envelope_uses_the_reason(api):
    api.status, api.body = 502, ["not", "an", "envelope"]

    with pytest.raises(AbacoActorError) as caught:
        abaco_actor.get_state()

    assert caught.value.status == 502


def test_without_a_token_no_call_is_made(api, monkeypatch):
    monkeypatch.setenv("_abaco_access_token", "")

    with pytest.raises(AbacoActorError) as caught:
        abaco_actor.send_message("B1", "hi")

    assert caught.value.status == 401 and "token" in str(caught.value)
    assert api.requests == []


def test_an_unreachable_api_is_an_abaco_actor_error(monkeypatch):
    for name, value in env(_abaco_api_server="http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)

    with pytest.raises(AbacoActorError) as caught:
        abaco_actor.get_state()

    assert caught.value.status == 0 and "cannot reach" in str(caught.value)


# -- results --------------------------------------------------------------------------------


@pytest.fixture
def results_socket():
    import socket
    import tempfile

    with tempfile.TemporaryDirectory(dir="/tmp") as where:
        path = f"{where}/r.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.bind(path)
            s.settimeout(5)
            yield path, s


def test_results_are_datagrams_on_the_results_socket(results_socket):
    path, receiver = results_socket

    abaco_actor.send_bytes_result(b"\x00raw", path)
    abaco_actor.send_json_result({"n": [1, 2]}, path)

    assert receiver.recv(200_000) == b"\x00raw"
    assert json.loads(receiver.recv(200_000)) == {"n": [1, 2]}


def test_a_result_above_the_datagram_limit_is_refused_before_sending(results_socket):
    path, _ = results_socket

    with pytest.raises(ValueError, match="131072"):
        abaco_actor.send_bytes_result(b"x" * (abaco_actor.MAX_RESULT + 1), path)
