"""A property-based fuzz run (schemathesis over /docs/openapi.json) against the running stack.

Every operation of the document gets generated requests: a few valid ones (positive mode), then
invalid ones (negative mode), then more valid ones, as a user of a fresh tenant. About half of
them name real objects (an actor, its execution, an alias, a nonce, a config, a worker) instead of
random ids, so the validation behind the lookups is reached too; one in eight keeps the random
credentials that schemathesis generates for the security schemes instead of the user's token.

No answer may be a 5xx, and every error must be the JSON envelope. The run is bounded:
``ABACO_FUZZ_EXAMPLES`` examples per operation and mode (default 25 positive, half as many
negative), derandomized, with a per-request timeout and a total budget of ``ABACO_FUZZ_SECONDS``
(default 150); ``ABACO_FUZZ_ROLE`` (default ``user``) is the caller's role. A stack restart by
someone else (502 while a service is down) is waited out and the request tried again once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from abaco_shared.enums import Role

from .conftest import Client

EXAMPLES = int(os.environ.get("ABACO_FUZZ_EXAMPLES", "25"))
BUDGET = float(os.environ.get("ABACO_FUZZ_SECONDS", "150"))
ROLE = Role(os.environ.get("ABACO_FUZZ_ROLE", "user"))  # e.g. admin, to reach the privileged paths
REQUEST_TIMEOUT = 15
CREDENTIAL_HEADERS = ("authorization", "x-tapis-token", "x-jwt-assertion-tenant")
# paths whose DELETE removes one of the real objects: make them again afterwards
REAL_DELETES = {"/actors/{actor_id}", "/actors/aliases/{alias}", "/actors/configs/{config_name}"}


def bucket(case, n: int) -> int:
    """A stable pseudo-random number in ``[0, n)`` drawn from the generated case itself."""
    text = repr((case.path_parameters, case.query, case.body, case.media_type))
    return int(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), 16) % n


@dataclass
class RealObjects:
    """Objects of the fresh tenant that generated requests may name; made again when deleted."""

    client: Client
    ids: dict[str, str] = field(default_factory=dict)

    def setup(self) -> None:
        c = self.client
        actor = c.register("abaco/echo:latest", name="fuzz")
        self.ids = {"actor_id": actor["id"]}
        self.ids["execution_id"] = c.send(actor["id"], "fuzz")
        for key, method, path, body, field_name in [
            (
                "alias",
                "POST",
                "/actors/aliases",
                {"alias": f"fz{actor['id'][-6:].lower()}", "actor_id": actor["id"]},
                "alias",
            ),
            ("nonce_id", "POST", f"/actors/{actor['id']}/nonces", {"level": "READ", "max_uses": 5}, "id"),
            (
                "config_name",
                "POST",
                "/actors/configs",
                {"name": f"fz{actor['id'][-6:].lower()}", "value": "v", "is_secret": False, "actors": actor["id"]},
                "name",
            ),
        ]:
            resp = c.call(method, path, json=body)  # the routes may not exist yet: then ids stay random
            if resp.status_code == 200:
                self.ids[key] = resp.json()["result"][field_name]
        workers = c.call("GET", f"/actors/{actor['id']}/workers")
        if workers.status_code == 200 and isinstance(workers.json()["result"], list) and workers.json()["result"]:
            self.ids["worker_id"] = workers.json()["result"][0]["id"]

    def substitute(self, case) -> bool:
        """Name real objects in about half of the cases; returns whether it did."""
        if not case.path_parameters or bucket(case, 2):
            return False
        for name in case.path_parameters:
            if name in self.ids:
                case.path_parameters[name] = self.ids[name]
        if case.query:  # a real actor's synchronous call would wait for its execution
            case.query.pop("_abaco_synchronous", None)
        return True


@dataclass
class Finding:
    operation: str
    status: int | str
    problem: str
    curl: str
    answer: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.status} {self.problem}\n  {self.curl}\n  -> {self.answer[:300]!r}"


def envelope_problem(resp: schemathesis.Response) -> str | None:
    """What is wrong with an error answer, if it is not the JSON error envelope."""
    ctype = ",".join(resp.headers.get("content-type", []))
    if ctype != "application/json":
        return f"error with Content-Type {ctype!r}, not application/json"
    try:
        body = json.loads(resp.content)
    except ValueError:
        return "error body is not JSON"
    if not isinstance(body, dict) or set(body) != {"status", "message", "result", "version"}:
        return "error body is not the envelope"
    if body["status"] != "error" or body["result"] is not None or not isinstance(body["message"], str):
        return "error envelope with wrong status/result/message"
    return None


def wait_for_stack(base: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/actors", timeout=5).status_code == 401:
                return
        except requests.RequestException:
            pass
        time.sleep(1)


def test_fuzz_finds_no_server_error(stack, make_client, authenticator, tenant):
    base = stack
    document = requests.get(f"{base}/docs/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    client = make_client("alice", tenant, ROLE)
    token = authenticator.mint("alice", tenant, [ROLE])
    real = RealObjects(client)
    real.setup()
    session = requests.Session()
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    statuses: dict[int, int] = {}
    started = time.monotonic()

    def send(case):
        if time.monotonic() - started > BUDGET:
            return
        used_real = real.substitute(case)
        headers = dict(case.headers or {})
        if bucket(case, 8):  # the user's token, instead of generated credentials
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            if case.query:
                case.query.pop("x-nonce", None)
            headers["Authorization"] = f"Bearer {token}"
        case.headers = headers
        label = f"{case.method} {case.path}"
        counts[label] = counts.get(label, 0) + 1
        curl = case.as_curl_command(base_url=base).replace(token, "$TOKEN")
        resp: schemathesis.Response | None = None
        for attempt in range(2):
            try:
                resp = case.call(base_url=base, session=session, timeout=REQUEST_TIMEOUT)
            except requests.RequestException as exc:
                if attempt == 0:
                    wait_for_stack(base)
                    continue
                findings.append(Finding(label, "no answer", type(exc).__name__, curl, str(exc)))
                return
            if resp.status_code in (502, 503) and attempt == 0:  # a service restarting: wait, retry once
                wait_for_stack(base)
                continue
            break
        assert resp is not None
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        if resp.status_code >= 500:
            findings.append(Finding(label, resp.status_code, "server error", curl, resp.text))
        elif resp.status_code >= 400 and (problem := envelope_problem(resp)):
            findings.append(Finding(label, resp.status_code, problem, curl, resp.text))
        if used_real and case.method == "DELETE" and resp.status_code == 200 and case.path in REAL_DELETES:
            real.setup()

    # a few valid requests to every operation first, so that a slow machine still reaches them all
    positive, negative = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
    runs = [(positive, min(5, EXAMPLES)), (negative, max(1, EXAMPLES // 2)), (positive, EXAMPLES)]
    skipped: list[str] = []
    try:
        for mode, examples in runs:
            for result in schema.get_all_operations():
                operation = result.ok()
                if time.monotonic() - started > BUDGET:
                    skipped.append(f"{mode.value} {operation.label}")
                    continue

                @settings(
                    max_examples=examples,
                    derandomize=True,
                    database=None,
                    deadline=timedelta(seconds=REQUEST_TIMEOUT * 2 + 5),
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case):
                    send(case)

                try:
                    run()
                except Unsatisfiable:  # negative mode, for an operation without any input
                    continue
                except Exception as exc:  # a deadline, or schemathesis failing to build a request
                    findings.append(Finding(operation.label, "run", type(exc).__name__, "", str(exc)))
    finally:
        for actor in client.call("GET", "/actors", params={"limit": 1000}).json().get("result") or []:
            if isinstance(actor, dict) and "id" in actor:
                client.call("DELETE", f"/actors/{actor['id']}")

    total = sum(counts.values())
    elapsed = time.monotonic() - started
    summary = (
        f"{total} requests over {len(counts)} operations in {elapsed:.0f}s, statuses {dict(sorted(statuses.items()))}"
    )
    if skipped:
        summary += f"; not reached within the {BUDGET:.0f}s budget: {', '.join(skipped)}"
    print(summary)
    assert not findings, summary + "\n" + "\n".join(str(f) for f in findings)
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels <= set(counts), f"never requested, raise ABACO_FUZZ_SECONDS: {sorted(labels - set(counts))}"


def test_the_document_is_served_through_nginx(stack):
    resp = requests.get(f"{stack}/docs/openapi.json", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert json.loads(resp.text)["openapi"].startswith("3.0")
    page = requests.get(f"{stack}/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "/docs/openapi.json" in page.text
