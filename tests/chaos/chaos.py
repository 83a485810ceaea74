"""The chaos suite: messages to several actors while every kind of platform process is SIGKILLed
and RabbitMQ, Redis and MongoDB are restarted and killed; then the books are checked.

Checks, from the execution records and from Docker's own events:
- every accepted message (a 200 with an execution id) has exactly one execution, and it is terminal
  (0 lost, 0 stuck); the actors have no execution nobody asked for (0 extra);
- no execution had more than one container started for it (0 run twice);
- after each fault, a new message ran end to end within ``--recovery`` seconds (30);
- after the actors are deleted, nothing of theirs is left: containers, worker records, queues;
- every supervisord program is RUNNING at the end.

Senders use an ``Idempotency-Key`` per message, so a POST answered 502/503 (or not at all) is
simply sent again: a retry never makes a second execution.

Not part of ``make test``: ``make chaos`` (1,000 messages, every fault) and ``make chaos-short``
(CI: 120 messages, one fault of each family). Needs the stack up (``make up``). Prints a table;
exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "shared"))

from abaco_shared.auth import Authenticator  # noqa: E402
from abaco_shared.config import load_config  # noqa: E402
from abaco_shared.enums import Role  # noqa: E402

CTL = [str(ROOT / ".venv/bin/supervisorctl"), "-c", str(ROOT / "supervisord.conf")]
TERMINAL = ("COMPLETE", "ERROR")
SERVICES = ("registration", "messages", "admin", "spawner", "health", "clientg", "events")


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


# -- the platform's processes ---------------------------------------------------------------------


def ctl(*args: str) -> str:
    return subprocess.run([*CTL, *args], capture_output=True, text=True, timeout=120).stdout


def pid_of(program: str) -> int:
    out = ctl("pid", program).strip()
    return int(out) if out.isdigit() else 0


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def sigkill_program(program: str) -> str:
    """SIGKILL a supervisord program and everything it started (supervisord restarts it)."""
    pid = pid_of(program)
    if not pid:
        return f"{program} had no pid"
    for p in [*descendants(pid), pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return f"pid {pid}"


def restart_program(program: str) -> str:
    ctl("restart", program)
    return "restarted"


# -- the API --------------------------------------------------------------------------------------


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.s.request(method, self.base + path, timeout=kw.pop("timeout", 15), **kw)

    def result(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        r.raise_for_status()
        return r.json()["result"]

    def send(self, actor_id: str, text: str, key: str, give_up: float) -> str | None:
        """POST until accepted (the same Idempotency-Key each time); the execution id, or None."""
        while time.monotonic() < give_up:
            try:
                r = self.call(
                    "POST", f"/actors/{actor_id}/messages", data={"message": text}, headers={"Idempotency-Key": key}
                )
            except requests.RequestException:
                time.sleep(1)
                continue
            if r.status_code == 200:
                return str(r.json()["result"]["execution_id"])
            if r.status_code in (409, 400, 403, 404):
                raise RuntimeError(f"POST {actor_id} answered {r.status_code}: {r.text}")
            time.sleep(1)
        return None

    def execution(self, actor_id: str, eid: str) -> dict[str, Any] | None:
        try:
            r = self.call("GET", f"/actors/{actor_id}/executions/{eid}")
        except requests.RequestException:
            return None
        return r.json()["result"] if r.status_code == 200 else {"status": f"HTTP {r.status_code}"}

    def execution_ids(self, actor_id: str) -> list[str]:
        ids: list[str] = []
        while True:
            page = self.result("GET", f"/actors/{actor_id}/executions", params={"limit": 500, "skip": len(ids)})
            ids += page["ids"]
            if not page["ids"] or len(ids) >= page["total_executions"]:
                return ids


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    act: Callable[[], str]
    infra: bool = False
    recovery: float | None = None
    note: str = ""


@dataclass
class Books:
    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (actor, execution)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, actor_id: str, eid: str | None) -> None:
        with self.lock:
            if eid is None:
                self.refused.append(key)
            else:
                self.accepted[key] = (actor_id, eid)


def busy_worker_kill(api: Api, actors: list[str]) -> Callable[[], str]:
    def act() -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for actor_id in actors:
                try:
                    ws = api.result("GET", f"/actors/{actor_id}/workers")
                except (requests.RequestException, requests.HTTPError):
                    continue
                for w in ws:
                    if w.get("status") == "BUSY" and w.get("pid"):
                        try:
                            os.kill(int(w["pid"]), signal.SIGKILL)
                        except ProcessLookupError:
                            continue
                        return f"worker {w['id']} (pid {w['pid']}) of {actor_id}"
            time.sleep(0.2)
        return "no busy worker found"

    return act


def faults_for(short: bool, api: Api, actors: list[str]) -> list[Fault]:
    if short:
        return [
            Fault("SIGKILL messages", lambda: sigkill_program("abaco:messages")),
            Fault("SIGKILL spawner", lambda: sigkill_program("abaco:spawner")),
            Fault("SIGKILL a busy worker", busy_worker_kill(api, actors)),
            Fault("restart RabbitMQ", lambda: restart_program("infra:rabbitmq"), infra=True),
            Fault("SIGKILL Redis", lambda: sigkill_program("infra:redis"), infra=True),
            Fault("restart MongoDB", lambda: restart_program("infra:mongod"), infra=True),
        ]
    faults = [Fault(f"SIGKILL {s}", lambda s=s: sigkill_program(f"abaco:{s}")) for s in SERVICES]
    faults.insert(3, Fault("SIGKILL a busy worker", busy_worker_kill(api, actors)))
    faults.append(Fault("SIGKILL a busy worker", busy_worker_kill(api, actors)))
    for name, program in (("RabbitMQ", "infra:rabbitmq"), ("Redis", "infra:redis"), ("MongoDB", "infra:mongod")):
        faults.append(Fault(f"restart {name}", lambda p=program: restart_program(p), infra=True))
        faults.append(Fault(f"SIGKILL {name}", lambda p=program: sigkill_program(p), infra=True))
    return faults


def probe(api: Api, actor_id: str, books: Books, limit: float) -> float | None:
    """Seconds until a new message runs end to end (accepted and COMPLETE), or None past ``limit``."""
    t0 = time.monotonic()
    key = f"probe-{uuid.uuid4().hex}"
    eid = api.send(actor_id, "probe", key, t0 + limit)
    books.add(key, actor_id, eid)
    if eid is None:
        return None
    while time.monotonic() - t0 < limit:
        ex = api.execution(actor_id, eid)
        if ex and ex.get("status") in TERMINAL:
            return time.monotonic() - t0
        time.sleep(0.25)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="messages to send while the faults happen")
    parser.add_argument("--short", action="store_true", help="one fault of each family (CI)")
    parser.add_argument("--recovery", type=float, default=30.0, help="seconds allowed to recover from a fault")
    parser.add_argument("--settle", type=float, default=300.0, help="seconds allowed for the backlog to finish")
    parser.add_argument("--url", default=os.environ.get("ABACO_URL", "http://127.0.0.1:8000"))
    args = parser.parse_args()

    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})
    token = Authenticator.from_file(cfg.auth).mint("chaos", "dev", [Role.ADMIN])
    api = Api(args.url, token)
    dk = docker.from_env()
    since = int(time.time()) - 1

    specs = [
        ("success", {"image": "abaco/echo:latest"}),
        ("failure", {"image": "abaco/fail:latest"}),
        ("slow", {"image": "abaco/sleep:latest", "default_environment": {"SLEEP_SECONDS": "1"}}),
    ]
    actors: dict[str, str] = {}
    dbids: set[str] = set()
    for kind, body in specs:
        a = api.result("POST", "/actors", json={**body, "name": f"chaos-{kind}"})
        actors[kind] = a["id"]
        api.call("POST", f"/actors/{a['id']}/workers", json={"num": 2})
    log(f"actors: {actors}")

    books = Books()
    order = list(actors.values())
    stop_sending = threading.Event()

    def sender(offset: int, interval: float) -> None:
        i = offset
        while i < args.n and not stop_sending.is_set():
            actor_id = order[i % len(order)]
            key = f"chaos-{uuid.uuid4().hex}"
            books.add(key, actor_id, api.send(actor_id, f"m{i}", key, time.monotonic() + 180))
            i += 4
            time.sleep(interval)

    faults = faults_for(args.short, api, order)
    pause = 4.0 if args.short else 6.0
    # spread the messages over the faults: about (pause + 3 s) per fault
    interval = 4 * len(faults) * (pause + 3.0) / max(args.n, 1)
    senders = [threading.Thread(target=sender, args=(k, interval), daemon=True) for k in range(4)]
    for t in senders:
        t.start()
    for fault in faults:
        time.sleep(pause)
        began = time.monotonic()
        fault.note = fault.act()
        log(f"fault: {fault.name} ({fault.note})")
        took = time.monotonic() - began  # a restart returns once the program is started again
        left_for_probe = args.recovery - took
        back = probe(api, actors["success"], books, left_for_probe) if left_for_probe > 0 else None
        fault.recovery = None if back is None else took + back
        log(f"  recovered in {fault.recovery:.1f} s" if fault.recovery is not None else "  NOT recovered")

    for t in senders:
        t.join(timeout=600)
    stop_sending.set()
    log(f"sent {len(books.accepted)} accepted, {len(books.refused)} never accepted; waiting for the backlog")

    # every accepted message ends in exactly one terminal execution
    deadline = time.monotonic() + args.settle
    pending = dict(books.accepted)
    final: dict[str, dict[str, Any] | None] = {}
    while pending and time.monotonic() < deadline:
        for key, (actor_id, eid) in list(pending.items()):
            ex = api.execution(actor_id, eid)
            if ex and ex.get("status") in TERMINAL:
                final[key] = ex
                del pending[key]
        if pending:
            time.sleep(2)
    for key, (actor_id, eid) in pending.items():
        final[key] = api.execution(actor_id, eid)
    lost = [k for k, ex in final.items() if ex is None or str(ex.get("status", "")).startswith("HTTP 404")]
    stuck = [k for k, ex in final.items() if ex and ex.get("status") not in TERMINAL and k not in lost]
    outcomes = Counter(str(ex.get("outcome")) for ex in final.values() if ex and ex.get("status") in TERMINAL)

    per_actor = {actor_id: set(api.execution_ids(actor_id)) for actor_id in order}
    recorded = set().union(*per_actor.values())
    expected = {eid for _, eid in books.accepted.values()}
    # a POST answered 503 because the broker was down leaves its execution ended NOT_STARTED
    # ("message not queued"): a record of a refusal the sender was told about, not a run
    refusals, extra = [], []
    for eid in sorted(recorded - expected):
        ex = next((api.execution(a, eid) for a in order if eid in per_actor[a]), None) or {}
        if ex.get("outcome") == "NOT_STARTED" and str(ex.get("status_message", "")).startswith("message not queued"):
            refusals.append(eid)
        else:
            extra.append(eid)
    duplicate_ids = len(books.accepted) - len(expected)  # two keys given one execution

    # Docker's events: container starts per execution
    events = dk.events(
        since=since, until=int(time.time()) + 1, filters={"type": "container", "event": "start"}, decode=True
    )
    starts = Counter[str]()
    for ev in events:
        attrs = ev.get("Actor", {}).get("Attributes", {})
        if attrs.get("abaco.execution") in expected:
            starts[attrs["abaco.execution"]] += 1
            dbids.add(attrs.get("abaco.actor", ""))
    twice = sorted(e for e, n in starts.items() if n > 1)

    # delete the actors: nothing of theirs is left
    for actor_id in order:
        api.call("DELETE", f"/actors/{actor_id}", timeout=60)
    left: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = []
        for c in dk.containers.list(all=True, filters={"label": "abaco.actor"}):
            if c.labels.get("abaco.actor") in dbids or any(a in c.labels.get("abaco.actor", "") for a in order):
                left.append(f"container {c.name}")
        workers = subprocess.run(
            [str(ROOT / ".venv/bin/abaco-admin"), "workers", "--json"], capture_output=True, text=True, cwd=ROOT
        ).stdout
        left += [f"worker of {a}" for a in order if a in workers]
        queues = subprocess.run(
            [str(ROOT / "scripts/rabbitmq.sh"), "ctl", "list_queues", "-q", "name"], capture_output=True, text=True
        ).stdout
        left += [f"queue {q}" for q in queues.split() if any(a in q for a in order)]
        if not left:
            break
        time.sleep(2)

    status = ctl("status").splitlines()
    not_running = [line.split()[0] for line in status if line.strip() and " RUNNING " not in f" {line} "]

    # the table
    print()
    print(f"{'fault':<28} {'what':<46} {'recovery':>9}")
    for f in faults:
        rec = f"{f.recovery:.1f} s" if f.recovery is not None else "NONE"
        print(f"{f.name:<28} {f.note[:46]:<46} {rec:>9}")
    print()
    rows = [
        ("messages accepted", len(books.accepted), None),
        ("never accepted (gave up)", len(books.refused), 0),
        ("lost", len(lost), 0),
        ("stuck (not terminal)", len(stuck), 0),
        ("refusals recorded (503)", len(refusals), None),
        ("executions nobody asked for", len(extra), 0),
        ("two keys, one execution", duplicate_ids, 0),
        ("containers started twice", len(twice), 0),
        ("faults not recovered in time", sum(f.recovery is None for f in faults), 0),
        ("left after delete", len(left), 0),
        ("programs not RUNNING", len(not_running), 0),
    ]
    failed = False
    for name, value, want in rows:
        bad = want is not None and value != want
        failed |= bad
        print(f"{name:<32} {value:>6}  {'FAIL' if bad else 'ok'}")
    print(f"{'outcomes':<32} {dict(outcomes)}")
    slowest = max((f.recovery or 0.0) for f in faults)
    print(f"{'slowest recovery':<32} {slowest:.1f} s (limit {args.recovery:.0f} s)")
    for label, items in (("lost", lost), ("stuck", stuck), ("extra", extra), ("twice", twice), ("left", left)):
        if items:
            print(f"  {label}: {items[:10]}")
    if not_running:
        print(f"  not running: {not_running}")
    print("chaos: FAIL" if failed else "chaos: PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
