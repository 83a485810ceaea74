"""Bad input gets a clear JSON error, through nginx, from every API."""

from __future__ import annotations

import json
import socket
import urllib.parse

import requests

from abaco_shared.enums import Role


def _json_error(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "error" and body["result"] is None and body["version"]
    assert body["message"]
    return body


def test_no_token_is_a_json_401(stack):
    for method, path in [("GET", "/actors"), ("POST", "/actors/abc/messages"), ("GET", "/actors/abc/workers")]:
        body = _json_error(requests.request(method, f"{stack}{path}", timeout=10), 401)
        assert "Bearer" in body["message"]


def test_bad_token_is_a_json_401(stack):
    resp = requests.get(f"{stack}/actors", headers={"Authorization": "Bearer abc.def.ghi"}, timeout=10)
    _json_error(resp, 401)


def test_unknown_actor_is_a_json_404_on_every_api(client):
    for method, path in [
        ("GET", "/actors/NoSuchActor123"),
        ("GET", "/actors/NoSuchActor123/executions"),
        ("POST", "/actors/NoSuchActor123/messages"),
        ("GET", "/actors/NoSuchActor123/workers"),
    ]:
        body = _json_error(client.call(method, path, data={"message": "x"}), 404)
        assert "NoSuchActor123" in body["message"]


def test_unknown_execution_is_a_json_404(client, actors):
    actor = actors("abaco/echo:latest")
    _json_error(client.call("GET", f"/actors/{actor['id']}/executions/nope"), 404)
    _json_error(client.call("GET", f"/actors/{actor['id']}/executions/nope/logs"), 404)


def test_unknown_path_and_method(client):
    _json_error(client.call("GET", "/nope"), 404)
    body = _json_error(client.call("PATCH", "/actors"), 405)
    assert body["message"] == "Invalid HTTP method on requested resource."


def test_malformed_actor_bodies_are_clear_400s(client):
    cases = [
        (b'{"image": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "image"),
        (b'{"image": "abaco/echo", "stateless": "maybe"}', "stateless"),
        (b'{"image": "abaco/echo", "max_workers": 3}', "max_workers"),
        (b'{"image": "abaco/echo", "colour": "red"}', "colour"),
        (b'{"image": "Not An Image!"}', "image"),
        (b'{"image": "abaco/echo", "default_environment": [1]}', "default_environment"),
    ]
    for raw, word in cases:
        resp = client.call("POST", "/actors", data=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code in (400, 403), (raw, resp.text)
        assert word in resp.json()["message"], (raw, resp.json()["message"])


def test_malformed_message_bodies_are_clear_400s(client, actors):
    actor = actors("abaco/echo:latest")
    path = f"/actors/{actor['id']}/messages"
    body = _json_error(client.call("POST", path, data=b'{"a": ', headers={"Content-Type": "application/json"}), 400)
    assert "invalid JSON" in body["message"]
    body = _json_error(client.call("POST", path, data=b"", headers={"Content-Type": "text/plain"}), 400)
    assert "empty" in body["message"]
    _json_error(client.call("POST", path, data={"other": "field"}), 400)


def test_tenants_and_users_are_isolated(client, actors, make_client, tenant):
    actor = actors("abaco/echo:latest")
    stranger = make_client("alice", tenant + "x")
    _json_error(stranger.call("GET", f"/actors/{actor['id']}"), 404)
    assert stranger.ok("GET", "/actors") == []
    bob = make_client("bob", tenant)
    # an actor bob may not READ is invisible to him: the 404 of an id that does not exist
    missing = _json_error(bob.call("GET", f"/actors/{actor['id']}"), 404)
    assert missing["message"] == f"No actor found with identifier: {actor['id']}."
    _json_error(bob.call("POST", f"/actors/{actor['id']}/messages", data={"message": "hi"}), 404)
    assert bob.ok("GET", "/actors") == []
    admin = make_client("root", tenant, Role.ADMIN)
    assert admin.ok("GET", f"/actors/{actor['id']}")["owner"] == "alice"
    assert [a["id"] for a in client.ok("GET", "/actors")] == [actor["id"]]


def test_privileged_fields_need_the_privileged_role(make_client, tenant):
    user = make_client("carol", tenant)
    resp = user.call("POST", "/actors", json={"image": "abaco/echo:latest", "privileged": True})
    _json_error(resp, 403)
    priv = make_client("dave", tenant, Role.PRIVILEGED)
    actor = priv.ok("POST", "/actors", json={"image": "abaco/echo:latest", "mem_limit": "256m", "max_workers": 2})
    assert actor["mem_limit"] == "256m"
    priv.call("DELETE", f"/actors/{actor['id']}")


def test_delete_actor(client):
    actor = client.register("abaco/echo:latest")
    client.wait_execution(actor["id"], client.send(actor["id"], "bye"))
    assert client.ok("DELETE", f"/actors/{actor['id']}") is None
    _json_error(client.call("GET", f"/actors/{actor['id']}"), 404)
    _json_error(client.call("POST", f"/actors/{actor['id']}/messages", data={"message": "x"}), 404)


def test_oversized_message_is_a_clear_413(client, actors):
    actor = actors("abaco/echo:latest")
    resp = client.call(
        "POST", f"/actors/{actor['id']}/messages", data=b"x" * 200_000, headers={"Content-Type": "text/plain"}
    )
    body = _json_error(resp, 413)
    assert "at most" in body["message"]
    assert client.ok("GET", f"/actors/{actor['id']}/messages")["messages"] == 0


def test_limits_on_actor_fields(client):
    for field, value in [("log_ex", 10**13), ("max_run_time", 10**18), ("max_run_time", -5)]:
        resp = client.call("POST", "/actors", json={"image": "abaco/echo:latest", field: value})
        assert field in _json_error(resp, 400)["message"]


def test_hostile_inputs_get_json_400s_not_500s(client, actors):
    actor = actors("abaco/echo:latest")
    deep = "[" * 100_000 + "]" * 100_000
    shallow_enough_to_fit = "[" * 50_000 + "]" * 50_000  # under the message size limit
    cases = [
        ("POST", "/actors", {"data": deep, "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/actors", {"json": {"image": "abaco/echo:latest", "default_environment": {"$x": "1"}}}, 400),
        ("POST", f"/actors/{actor['id']}/messages", {"params": {"$where": "1"}, "data": {"message": "hi"}}, 400),
        ("POST", f"/actors/{actor['id']}/messages", {"params": {"X": "a\x00b"}, "data": {"message": "hi"}}, 400),
        (
            "POST",
            f"/actors/{actor['id']}/messages",
            {"data": shallow_enough_to_fit, "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("GET", f"/actors/{actor['id']}/executions?skip={2**63}", {}, 400),
        ("GET", "/actors/..%2f..%2fetc", {}, 400),
        ("GET", "/actors/a%00b", {}, 400),
        ("GET", "/actors?" + "a" * 9000, {}, 414),
    ]
    for method, path, kwargs, status in cases:
        resp = client.call(method, path, **kwargs)
        assert resp.status_code == status, (method, path[:60], resp.status_code, resp.text[:200])
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.json()["status"] == "error"
    resp = client.call("GET", "/actors", headers={"X-Request-Id": "\xff\xfe"})
    assert resp.status_code == 200 and resp.headers["X-Request-Id"] != "\xff\xfe"


def test_text_that_is_not_unicode_and_numbers_that_are_not_finite_are_400s(client, actors):
    """A lone UTF-16 surrogate in JSON (\\ud800) is not Unicode text and cannot be stored; bytes
    that are not UTF-8 in a form field or a query parameter are not text either; NaN and
    Infinity are not JSON numbers (an answer carrying them is not JSON). Each is a 400 naming
    the problem, on every API, never a 500 and never stored."""
    actor = actors("abaco/echo:latest")
    aid = actor["id"]
    as_json = {"Content-Type": "application/json"}
    as_form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        ("POST", "/actors", '{"image": "abaco/echo:latest", "name": "\\ud800"}', as_json, "Unicode"),
        ("POST", "/actors", '{"image": "abaco/echo:latest", "hints": ["\\udfff"]}', as_json, "Unicode"),
        ("PUT", f"/actors/{aid}", '{"image": "abaco/echo:latest", "description": "\\ud800"}', as_json, "Unicode"),
        ("POST", f"/actors/{aid}/nonces", '{"level": "READ", "description": "\\ud800"}', as_json, "Unicode"),
        ("POST", f"/actors/{aid}/state", '{"s": "\\ud800"}', as_json, "Unicode"),
        ("POST", f"/actors/{aid}/messages", '{"m": "\\ud800"}', as_json, "Unicode"),
        ("POST", f"/actors/{aid}/messages", '{"\\ud800": 1}', as_json, "Unicode"),
        ("POST", f"/actors/{aid}/messages", '{"a": NaN}', as_json, "finite"),
        ("POST", f"/actors/{aid}/messages", '{"a": 1e999}', as_json, "finite"),
        ("POST", f"/actors/{aid}/messages", "[-Infinity]", as_json, "finite"),
        ("POST", f"/actors/{aid}/messages", "message=%ff%fe", as_form, "UTF-8"),
        ("POST", f"/actors/{aid}/messages", "message=%ED%A0%80", as_form, "UTF-8"),
        ("POST", f"/actors/{aid}/messages?x=%ED%A0%80", '{"m": 1}', as_json, "UTF-8"),
        ("POST", "/actors", "image=abaco%2Fecho%3Alatest&name=%FF", as_form, "UTF-8"),
    ]
    for method, path, body, headers, says in cases:
        resp = client.call(method, path, data=body.encode(), headers=headers)
        error = _json_error(resp, 400)
        assert says in error["message"], (method, path, body, error["message"])
    assert client.ok("GET", f"/actors/{aid}/executions")["executions"] == []  # nothing was queued
    assert client.ok("GET", f"/actors/{aid}")["description"] == ""


def _raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these) and read the whole answer."""
    url = urllib.parse.urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_requests_refused_before_the_api_sees_them_get_the_json_envelope_too(stack, client):
    """nginx and waitress refuse some requests themselves (a header too large, an HTTP version,
    a path that is not text, a control character in a header): their answers are JSON as well."""
    auth = f"Authorization: {client.session.headers['Authorization']}\r\n".encode()
    cases = [
        (b"GET /actors/\xff\xfe HTTP/1.1\r\n", b"", 400, "percent-encode"),
        (b"GET /actors?\xff=\xfe HTTP/1.1\r\n", b"", 400, "percent-encode"),
        (b"GET /actors HTTP/2.0\r\n", b"", 505, "HTTP version"),
        (b"GET /actors HTTP/1.1\r\n", b"X-Big: " + b"a" * 20_000 + b"\r\n", 400, "too large"),
        (b"GET /actors HTTP/1.1\r\n", b"Idempotency-Key: a\x7fb\r\n", 400, "control characters"),
    ]
    for line, extra, status, says in cases:
        request = line + b"Host: 127.0.0.1\r\n" + auth + extra + b"Connection: close\r\n\r\n"
        code, headers, body = _raw(stack, request)
        assert code == status, (line, extra[:30], code, body[:200])
        assert headers["content-type"].startswith("application/json"), (line, headers)
        error = json.loads(body)
        assert error["status"] == "error" and error["result"] is None and says in error["message"], error
