"""Scale figures (issue "workers at scale"), each printed beside its floor measured in the same run.

1. throughput: 4 threads looping the bare Docker SDK (create, start, wait, logs, remove) against
   abaco with one actor of 4 workers and with 4 actors of 1 worker (messages POSTed at once);
2. control-plane CPU per execution over those runs: every platform process (the APIs, spawner,
   workers, health, clientg), with MongoDB, RabbitMQ, Redis and nginx beside it;
3. cold start (register -> first COMPLETE) against a bare ``docker run --rm``, and how long a new
   worker of an existing actor takes to be READY;
4. idle worker memory (PSS, so pages shared with a parent count fairly) over N idle workers;
5. the API with ``wrk``: GET /actors/{id} and POST .../messages through nginx beside a bare waitress
   "hello" on the same machine.

Not a test: it prints numbers. Run with ``make bench`` (after ``make up``); ``--quick`` for a short run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import docker
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_messages import bare_docker_run, pct  # noqa: E402

from abaco_shared.auth import Authenticator  # noqa: E402
from abaco_shared.config import Config, load_config  # noqa: E402
from abaco_shared.enums import Role  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
INFRA = {
    "mongod": "mongod",
    "rabbitmq": "beam.smp",
    "redis": "redis-server",
    "nginx": "nginx",
    "dockerd": "dockerd",
    "containerd": "containerd",
}
TERMINAL = ("COMPLETE", "ERROR")
TENANT = "bench"  # the bench's tokens' tenant


# ------------------------------------------------------------------------------ processes
def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_matching(pattern: str) -> list[str]:
    return [p for p in os.listdir("/proc") if p.isdigit() and pattern in _cmdline(p)]


def worker_pids() -> list[str]:
    """The worker processes: a worker forked by a zygote runs the zygote's command line too, so
    the zygotes themselves (children of the spawner their ``--parent`` names) are left out."""
    pids = []
    for pid in pids_matching("-m abaco_worker"):
        args = _cmdline(pid).split()
        parent = args[args.index("--parent") + 1] if "--parent" in args[:-1] else ""
        try:
            ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if ppid != parent:
            pids.append(pid)
    return pids


def cpu_ms(pids: list[str], children: bool = False) -> float:
    """utime+stime (and, with ``children``, of their reaped children) of these processes, in ms."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if children:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total * 1000 / TICK


def platform_cpu_ms() -> dict[str, float]:
    """Every abaco Python process (the APIs, spawners, workers, health, clientg, events), by
    program (the module it runs; forked workers run ``abaco_worker.zygote``).

    Measured while the same workers run (none starts or exits in the window). supervisord's
    children time is left out: supervisord is a child subreaper, so the containerd shims of the
    actor containers (and the containers' own processes) are reaped there, which is the actors'
    CPU, not the platform's (reported apart as "actor containers")."""
    by: dict[str, float] = {}
    for pid in pids_matching("-m abaco_"):
        module = _cmdline(pid).split("-m ", 1)[-1].split()[0]
        name = "workers" if module == "abaco_worker.zygote" else module.removeprefix("abaco_")
        by[name] = by.get(name, 0.0) + cpu_ms([pid])
    return by


def reaped_cpu_ms() -> float:
    """What supervisord reaped: the containers' shims and processes (and any exited worker)."""
    return cpu_ms(pids_matching("supervisord"), children=True)


def infra_cpu_ms() -> dict[str, float]:
    return {name: cpu_ms(pids_matching(pattern)) for name, pattern in INFRA.items()}


def pss_kib(pid: str) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


# ------------------------------------------------------------------------------ the API
@dataclass
class Api:
    base: str
    token: str
    admin_token: str

    def __post_init__(self) -> None:
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {self.token}"
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"Bearer {self.admin_token}"

    def register(self, image: str, **fields: object) -> str:
        r = self.s.post(f"{self.base}/actors", json={"image": image, **fields}, timeout=30)
        r.raise_for_status()
        return str(r.json()["result"]["id"])

    def delete(self, aid: str) -> None:
        self.s.delete(f"{self.base}/actors/{aid}", timeout=60)

    def send(self, aid: str, message: str = "bench", **params: str) -> str:
        r = self.s.post(f"{self.base}/actors/{aid}/messages", data={"message": message}, params=params, timeout=60)
        r.raise_for_status()
        return str(r.json()["result"]["execution_id"])

    def sender(self) -> Sender:
        return Sender(self.base, self.token)

    def sync(self, aid: str) -> None:
        r = self.s.post(
            f"{self.base}/actors/{aid}/messages",
            data={"message": "bench"},
            params={"_abaco_synchronous": "true"},
            timeout=120,
        )
        r.raise_for_status()

    def execution(self, aid: str, eid: str) -> dict:
        return dict(self.s.get(f"{self.base}/actors/{aid}/executions/{eid}", timeout=30).json()["result"])

    def workers(self, aid: str) -> list[dict]:
        return list(self.s.get(f"{self.base}/actors/{aid}/workers", timeout=30).json()["result"])

    def add_workers(self, aid: str, num: int) -> None:
        self.admin.post(f"{self.base}/actors/{aid}/workers", json={"num": num}, timeout=30).raise_for_status()

    def wait_ready_workers(self, aid: str, num: int, timeout: float = 120, poll: float = 0.02) -> float:
        """Seconds until ``num`` workers of the actor are READY."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if sum(w.get("status") == "READY" for w in self.workers(aid)) >= num:
                return time.perf_counter() - t0
            time.sleep(poll)
        raise TimeoutError(f"actor {aid}: {num} workers not READY within {timeout} s")

    def wait_terminal(self, pairs: list[tuple[str, str]], timeout: float = 600) -> None:
        pending = list(pairs)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} executions not terminal within {timeout} s")
            aid, eid = pending[-1]
            if self.execution(aid, eid)["status"] in TERMINAL:
                pending.pop()
            else:
                time.sleep(0.2)  # the polling is the bench's own load: keep it out of the CPU figure


class Sender:
    """POSTs messages on one kept connection per thread: the bench's own CPU per message (it
    shares the 2 cores with what it measures) is a fraction of ``requests``' (about 2 ms)."""

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"}
        self.local = threading.local()

    def send(self, aid: str, message: str = "bench") -> str:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request("POST", f"{self.prefix}/actors/{aid}/messages", body=f"message={message}", headers=self.headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST message: {response.status} {body[:200]!r}")
        return str(json.loads(body)["result"]["execution_id"])


# ------------------------------------------------------------------------------ 1. throughput
def sdk_floor(cfg: Config, image: str, total: int, threads: int) -> tuple[float, Cpu]:
    """Executions per second of ``threads`` threads looping the bare Docker SDK calls, and the
    CPU spent meanwhile: the loop's own (this process), the engine's and the containers'."""
    client = docker.APIClient(base_url=cfg.host.docker_url or "unix:///var/run/docker.sock")
    w = cfg.worker
    host_config = client.create_host_config(
        network_mode=w.network,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=w.read_only_root,
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={w.tmp_size}"} if w.read_only_root else None,
        mem_limit=w.mem_limit or None,
        pids_limit=w.pids_limit or None,
    )
    counter = iter(range(total))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            cid = client.create_container(
                image, environment={"MSG": "bench"}, host_config=host_config, user=f"{w.uid}:{w.gid}"
            )["Id"]
            client.start(cid)
            client.wait(cid)
            client.logs(cid)
            client.remove_container(cid, force=True)

    me = [str(os.getpid())]
    m0, r0, i0 = cpu_ms(me), reaped_cpu_ms(), infra_cpu_ms()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(loop) for _ in range(threads)]:
            f.result()
    rate = total / (time.perf_counter() - t0)
    m1, r1, i1 = cpu_ms(me), reaped_cpu_ms(), infra_cpu_ms()
    return rate, Cpu(m1 - m0, r1 - r0, {k: i1[k] - i0[k] for k in i0}, {"the SDK loop": m1 - m0})


@dataclass
class Cpu:
    """CPU (ms) spent in one measured window, by who spent it."""

    platform: float = 0.0
    containers: float = 0.0
    infra: dict[str, float] | None = None
    by_program: dict[str, float] | None = None

    def add(self, other: Cpu) -> Cpu:
        infra = {k: (self.infra or {}).get(k, 0.0) + v for k, v in (other.infra or {}).items()}
        mine, theirs = self.by_program or {}, other.by_program or {}
        by = {k: mine.get(k, 0.0) + theirs.get(k, 0.0) for k in {*mine, *theirs}}
        return Cpu(self.platform + other.platform, self.containers + other.containers, infra, by)


def wait_terminal_in_store(cfg: Config, tenant: str, pairs: list[tuple[str, str]], timeout: float = 600) -> None:
    """Wait until every execution is terminal, counting them in MongoDB directly: polling the
    API would put the bench's own requests into the platform's CPU figure."""
    import pymongo

    m = cfg.mongo
    auth = {"username": m.user, "password": m.password, "authSource": m.auth_source} if m.password else {}
    with pymongo.MongoClient(m.url, **auth) as client:
        coll = client[m.db]["executions"]
        order = [f"{tenant}_{aid}_{eid}" for aid, eid in pairs]  # as sent
        pending = set(order)
        deadline = time.monotonic() + timeout

        def terminal(keys: list[str]) -> set[str]:
            found = coll.find({"_id": {"$in": keys}, "status": {"$in": list(TERMINAL)}}, {"_id": 1})
            return {d["_id"] for d in found}

        # each mailbox is first in, first out: the last messages sent end last, so a poll asks
        # about the last 8 still pending, and about all of them only once those 8 have ended (a
        # poll of 200 every 0.1 s cost MongoDB 1-2 ms of CPU, taken from the platform measured)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} executions not terminal within {timeout} s")
            tail = [key for key in reversed(order) if key in pending][:8]
            ended = terminal(tail)
            pending -= ended
            if len(ended) == len(tail) and pending:
                pending -= terminal(list(pending))
            if pending:
                time.sleep(0.1)


def forget_earlier_runs(cfg: Config) -> None:
    """Delete the execution records and logs of the bench's deleted actors.

    The platform keeps an actor's execution records when it is deleted (for its owner's
    history), so each run leaves tens of thousands: after a few dozen runs they outgrew MongoDB's
    cache and every later run's writes cost MongoDB more CPU, a figure about the bench's history,
    not the platform. Only the bench's own tenant is touched."""
    import pymongo

    m = cfg.mongo
    auth = {"username": m.user, "password": m.password, "authSource": m.auth_source} if m.password else {}
    with pymongo.MongoClient(m.url, **auth) as client:
        db = client[m.db]
        live = [a["_id"] for a in db["actors"].find({"tenant": TENANT}, {"_id": 1})]
        gone = {"tenant": TENANT, "actor_dbid": {"$nin": live}}
        removed = db["executions"].delete_many(gone).deleted_count
        db["logs"].delete_many({"actor_dbid": {"$regex": f"^{TENANT}_", "$nin": live}})
    if removed:
        print(f"(removed {removed} execution records left by earlier runs)")


def abaco_throughput(
    api: Api, cfg: Config, image: str, total: int, actors: int, workers_each: int
) -> tuple[float, Cpu]:
    """Executions per second, and the CPU spent from the first POST until every execution is
    terminal (the workers are READY before and still running after)."""
    # max_workers pins the pool: the autoscaler would otherwise add workers to the burst
    aids = [api.register(image, name=f"bench-scale-{i}", max_workers=workers_each) for i in range(actors)]
    try:
        for aid in aids:
            if workers_each > 1:
                api.add_workers(aid, workers_each)
            api.wait_ready_workers(aid, workers_each)
        p0, r0, i0 = platform_cpu_ms(), reaped_cpu_ms(), infra_cpu_ms()
        t0 = time.perf_counter()
        sender = api.sender()
        with ThreadPoolExecutor(8) as pool:
            pairs = list(pool.map(lambda i: (aids[i % actors], sender.send(aids[i % actors])), range(total)))
        wait_terminal_in_store(cfg, TENANT, pairs)
        rate = total / (time.perf_counter() - t0)
        p1, r1, i1 = platform_cpu_ms(), reaped_cpu_ms(), infra_cpu_ms()
        by = {k: v - p0.get(k, 0.0) for k, v in p1.items()}  # a program's pids live through the window
        return rate, Cpu(sum(by.values()), r1 - r0, {k: i1[k] - i0[k] for k in i0}, by)
    finally:
        for aid in aids:
            api.delete(aid)


# ------------------------------------------------------------------------------ 3. cold start
def cold_start(api: Api, image: str) -> float:
    t0 = time.perf_counter()
    aid = api.register(image, name="bench-cold")
    try:
        api.sync(aid)
        return (time.perf_counter() - t0) * 1000
    finally:
        api.delete(aid)


def new_worker_ready(api: Api, image: str, samples: int) -> list[float]:
    aid = api.register(image, name="bench-new-worker")
    try:
        api.wait_ready_workers(aid, 1)
        times = []
        for n in range(2, 2 + samples):
            api.add_workers(aid, n)
            times.append(api.wait_ready_workers(aid, n, poll=0.005) * 1000)
        return times
    finally:
        api.delete(aid)


# ------------------------------------------------------------------------------ 4. idle memory
def idle_worker_pss(api: Api, image: str, count: int) -> list[int]:
    aids: list[str] = []
    try:
        for i in range(count):
            aids.append(api.register(image, name=f"bench-idle-{i}"))
        for aid in aids:
            api.wait_ready_workers(aid, 1)
        time.sleep(2)  # let start-up garbage settle
        return [pss_kib(pid) for pid in worker_pids()]
    finally:
        for aid in aids:
            api.delete(aid)


# ------------------------------------------------------------------------------ 5. the API, with wrk
HELLO = """
import sys, waitress
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]), _quiet=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def bare_hello(threads: int) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", HELLO, str(port), str(threads)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


def wrk(url: str, seconds: int, headers: dict[str, str], script: str = "") -> float:
    """Requests per second that answered 2xx (non-2xx are reported and not counted)."""
    cmd = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    if script:
        cmd += ["-s", f.name]
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        print(f"  ({url}: {bad.group(1)} of {total} answers were not 2xx/3xx; not counted)")
        rps *= 1 - int(bad.group(1)) / total
    return rps


POST_SCRIPT = """
wrk.method = "POST"
wrk.body = "message=bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


@dataclass
class Rate:
    """Requests per second of one wrk run, and the CPU (ms) each process group spent per request."""

    rps: float
    cpu: dict[str, float]


def measured_wrk(url: str, seconds: int, headers: dict[str, str], script: str = "") -> Rate:
    p0, i0 = platform_cpu_ms(), infra_cpu_ms()
    t0 = time.perf_counter()
    rps = wrk(url, seconds, headers, script)
    elapsed = time.perf_counter() - t0
    p1, i1 = platform_cpu_ms(), infra_cpu_ms()
    served = max(rps * elapsed, 1.0)  # wrk's run is all but the whole window
    spent = {k: v - p0.get(k, 0.0) for k, v in p1.items()} | {k: i1[k] - i0[k] for k in i0}
    return Rate(rps, {k: v / served for k, v in spent.items() if v / served >= 0.005})


def api_rates(api: Api, seconds: int, threads: int) -> tuple[float, Rate, Rate]:
    """(bare hello, GET /actors/{id}, POST .../messages) requests per second."""
    auth = {"Authorization": f"Bearer {api.token}"}
    with bare_hello(threads) as hello_url:
        hello = wrk(hello_url, seconds, {})
    aid = api.register("abaco/sleep:latest", name="bench-api", max_workers=1)  # one blocked worker
    try:
        api.wait_ready_workers(aid, 1)
        get = measured_wrk(f"{api.base}/actors/{aid}", seconds, auth)
        # one long execution holds the actor's only worker: what wrk POSTs waits in the mailbox
        blocker = api.send(aid, SLEEP_SECONDS="600")
        post = measured_wrk(f"{api.base}/actors/{aid}/messages", seconds, auth, POST_SCRIPT)
        api.s.delete(f"{api.base}/actors/{aid}/messages", timeout=60)
        api.s.delete(f"{api.base}/actors/{aid}/executions/{blocker}", timeout=30)
    finally:
        api.delete(aid)
    return hello, get, post


# ------------------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default="abaco/echo:latest")
    parser.add_argument("-n", type=int, default=200, help="messages per throughput run")
    parser.add_argument("--idle", type=int, default=50, help="idle workers for the memory figure")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per URL")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="throughput and API rounds (throughput: floor, 1 x 4, floor, 4 x 1, floor; API: hello, GET, POST)",
    )
    parser.add_argument("--quick", action="store_true", help="n=40, 1 round, 10 idle workers, 3 s wrk runs")
    parser.add_argument("--url", default=os.environ.get("ABACO_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--only",
        default="throughput,startup,memory,api",
        help="comma-separated sections to run: throughput (with CPU), startup, memory, api",
    )
    args = parser.parse_args()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if args.quick:
        args.n, args.rounds, args.idle, args.seconds = 40, 1, 10, 3
    if not shutil.which("wrk"):
        print("wrk is not installed (scripts/install.sh installs it)", file=sys.stderr)
        return 1
    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})
    auth = Authenticator.from_file(cfg.auth)
    api = Api(
        args.url,
        auth.mint("bench", TENANT, [Role.USER, Role.PRIVILEGED]),  # privileged: may set max_workers
        auth.mint("bench-admin", TENANT, [Role.ADMIN]),
    )

    print(f"image {args.image}, {os.cpu_count()} cores, network={cfg.worker.network}")
    forget_earlier_runs(cfg)
    if "throughput" in only:
        throughput_section(api, cfg, args)
    if "startup" in only:
        startup_section(api, cfg, args)
    if "memory" in only:
        memory_section(api, args)
    if "api" in only:
        api_section(api, cfg, args)
    forget_earlier_runs(cfg)
    return 0


def throughput_section(api: Api, cfg: Config, args: argparse.Namespace) -> None:
    print(f"\n1. throughput, executions/s (4 concurrent containers; {args.rounds} rounds)")
    # the engine's own pace drifts by several percent within a minute: each platform run is
    # measured between two floor runs (floor, 1 x 4, floor, 4 x 1, floor) and compared with
    # their mean, so that a steady drift cancels out
    floors, one4s, four1s, one4_ratios, four1_ratios = [], [], [], [], []
    cpu, floor_cpu = Cpu(), Cpu()
    for _ in range(args.rounds):
        before, cpu_f1 = sdk_floor(cfg, args.image, args.n, 4)
        one4, cpu_a = abaco_throughput(api, cfg, args.image, args.n, 1, 4)
        between, cpu_f2 = sdk_floor(cfg, args.image, args.n, 4)
        four1, cpu_b = abaco_throughput(api, cfg, args.image, args.n, 4, 1)
        after, cpu_f3 = sdk_floor(cfg, args.image, args.n, 4)
        floors += [before, between, after]
        floor_cpu = floor_cpu.add(cpu_f1).add(cpu_f2).add(cpu_f3)
        one4s.append(one4)
        four1s.append(four1)
        one4_ratios.append(one4 / statistics.mean((before, between)))
        four1_ratios.append(four1 / statistics.mean((between, after)))
        cpu = cpu.add(cpu_a).add(cpu_b)

    def figures(rates: list[float], ratios: list[float]) -> str:
        each = " ".join(f"{r:.2f}" for r in ratios)
        return f"{statistics.median(rates):8.2f}   {statistics.median(ratios):.2f} x floor   ({each}; target >= 0.95)"

    spread = f"(min {min(floors):.2f}, max {max(floors):.2f} of {len(floors)})"
    print(f"  {'floor: 4 threads, bare Docker SDK':44}{statistics.median(floors):8.2f}   {spread}")
    print(f"  {'abaco: 1 actor x 4 workers':44}{figures(one4s, one4_ratios)}")
    print(f"  {'abaco: 4 actors x 1 worker':44}{figures(four1s, four1_ratios)}")

    runs, floor_runs = 2 * args.n * args.rounds, 3 * args.n * args.rounds
    print(f"\n2. CPU per execution (ms): abaco over those {runs} executions, the floor over its {floor_runs}")
    print(f"  {'':60}{'abaco':>7}  {'floor':>7}")

    def row(name: str, ours: float | None, floor: float | None, note: str = "") -> None:
        mine = f"{ours / runs:7.1f}" if ours is not None else f"{'':7}"
        theirs = f"{floor / floor_runs:7.1f}" if floor is not None else f"{'':7}"
        print(f"  {name:60}{mine}  {theirs}{note}")

    # the floor's own process is its control plane: the SDK loop that drives the engine
    row("abaco processes (APIs, spawner, workers, health, clientg)", cpu.platform, None, "   (target <= 15)")
    for name, value in sorted((cpu.by_program or {}).items(), key=lambda kv: -kv[1]):
        row(f"  {name}", value, None)
    row("the floor's process (4 threads looping the Docker SDK)", None, floor_cpu.platform)
    for name in INFRA:
        row(name, (cpu.infra or {})[name], (floor_cpu.infra or {})[name])
    row("actor containers (their shims and processes)", cpu.containers, floor_cpu.containers)
    ours = cpu.platform + cpu.containers + sum((cpu.infra or {}).values())
    theirs = floor_cpu.platform + floor_cpu.containers + sum((floor_cpu.infra or {}).values())
    row("all of the above", ours, theirs)


def startup_section(api: Api, cfg: Config, args: argparse.Namespace) -> None:
    print("\n3. start-up")
    floor_runs = [bare_docker_run(args.image, cfg.worker.network) for _ in range(10)]
    colds = [cold_start(api, args.image) for _ in range(3)]  # one start is one sample: noisy
    cold = statistics.median(colds)
    f50 = pct(floor_runs, 50)
    print(f"  {'bare docker run --rm, p50 of 10':44}{f50:8.0f} ms")
    print(
        f"  {'cold start: register -> first COMPLETE':44}{cold:8.0f} ms   {cold / f50:.2f} x floor "
        f"(median of {len(colds)}; max {max(colds):.0f}; target <= 2)"
    )
    ready = new_worker_ready(api, args.image, 5)
    print(
        f"  {'new worker of an existing actor: READY':44}{statistics.median(ready):8.0f} ms   "
        f"(median of {len(ready)}; max {max(ready):.0f}; target <= 300)"
    )


def memory_section(api: Api, args: argparse.Namespace) -> None:
    print(f"\n4. idle worker memory ({args.idle} idle workers)")
    pss = idle_worker_pss(api, args.image, args.idle)
    if pss:
        print(
            f"  PSS per worker: median {statistics.median(pss) / 1024:.1f} MiB, max {max(pss) / 1024:.1f} MiB, "
            f"{len(pss)} workers, total {sum(pss) / 1024:.0f} MiB   (target <= 40 MiB each)"
        )


def api_section(api: Api, cfg: Config, args: argparse.Namespace) -> None:
    print(f"\n5. the API, wrk -t2 -c16 -d{args.seconds}s (requests/s; {args.rounds} rounds)")
    # like throughput, a rate drifts by several percent from run to run: ratios per round
    rounds = [api_rates(api, args.seconds, cfg.http.threads) for _ in range(args.rounds)]
    hellos = [hello for hello, _, _ in rounds]

    def figures(rates: list[Rate], target: str) -> str:
        ratios = [rate.rps / hello for rate, hello in zip(rates, hellos, strict=True)]
        each = " ".join(f"{r:.2f}" for r in ratios)
        median = statistics.median(ratios)
        return f"{statistics.median(r.rps for r in rates):8.0f}   {median:.2f} x floor   ({each}; target >= {target})"

    def cpu_split(rates: list[Rate]) -> str:
        names = {name for rate in rates for name in rate.cpu}
        per = {name: statistics.median(rate.cpu.get(name, 0.0) for rate in rates) for name in names}
        parts = [f"{name} {ms:.2f}" for name, ms in sorted(per.items(), key=lambda kv: -kv[1]) if ms >= 0.01]
        return f"    CPU per request (ms, median of rounds): {', '.join(parts)}; all {sum(per.values()):.2f}"

    gets, posts = [get for _, get, _ in rounds], [post for _, _, post in rounds]
    print(f"  {'bare waitress hello (floor)':44}{statistics.median(hellos):8.0f}")
    print(f"  {'GET /actors/{id} through nginx':44}{figures(gets, '0.5')}")
    print(cpu_split(gets))
    print(f"  {'POST /actors/{id}/messages through nginx':44}{figures(posts, '0.25')}")
    print(cpu_split(posts))


if __name__ == "__main__":
    sys.exit(main())
