"""Warm-path latency: POST a message -> COMPLETE visible through the API, against a bare `docker run`.

Not a test: it prints numbers. Run with `make bench` while the stack is up (`make up`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
POLL = float(os.environ.get("BENCH_POLL", "0.005"))
sys.path.insert(0, str(ROOT / "shared"))

from abaco_shared.auth import Authenticator  # noqa: E402
from abaco_shared.config import Config, load_config  # noqa: E402
from abaco_shared.enums import Role  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def confinement_flags(cfg: Config) -> list[str]:
    """The `docker run` flags of the confinement an actor container gets (config [worker])."""
    w = cfg.worker
    flags = ["--cap-drop=ALL", "--security-opt=no-new-privileges", f"--user={w.uid}:{w.gid}"]
    if w.read_only_root:
        flags += ["--read-only", f"--tmpfs=/tmp:rw,nosuid,nodev,size={w.tmp_size}"]
    if w.mem_limit:
        flags += [f"--memory={w.mem_limit}", f"--memory-swap={w.mem_limit}"]
    if w.max_cpus:
        flags.append(f"--cpus={w.max_cpus / 1e9:g}")
    if w.pids_limit:
        flags.append(f"--pids-limit={w.pids_limit}")
    return flags


def bare_docker_run(image: str, network: str, flags: tuple[str, ...] | list[str] = ()) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        ["docker", "run", "--rm", f"--network={network}", *flags, "-e", "MSG=bench", image],
        check=True,
        capture_output=True,
    )
    return (time.perf_counter() - t0) * 1000


class AbacoRoundTrip:
    """One actor; each call POSTs a message and polls until its execution is COMPLETE."""

    def __init__(self, base: str, token: str, image: str) -> None:
        self.base = base
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"
        actor = self.s.post(f"{base}/actors", json={"image": image, "name": "bench"}, timeout=30).json()["result"]
        self.aid = actor["id"]

    def sync(self) -> float:
        """POST with ?_abaco_synchronous=true: the answer comes once the execution is COMPLETE."""
        t0 = time.perf_counter()
        r = self.s.post(
            f"{self.base}/actors/{self.aid}/messages",
            data={"message": "bench"},
            params={"_abaco_synchronous": "true"},
            timeout=60,
        )
        assert r.status_code == 200 and b"message: bench" in r.content, r.text
        return (time.perf_counter() - t0) * 1000

    def __call__(self) -> float:
        """POST, then poll GET .../executions/{id} every POLL seconds until COMPLETE."""
        t0 = time.perf_counter()
        r = self.s.post(f"{self.base}/actors/{self.aid}/messages", data={"message": "bench"}, timeout=30)
        eid = r.json()["result"]["execution_id"]
        while True:
            ex = self.s.get(f"{self.base}/actors/{self.aid}/executions/{eid}", timeout=30).json()["result"]
            if ex["status"] in ("COMPLETE", "ERROR"):
                assert ex["exit_code"] == 0, ex
                return (time.perf_counter() - t0) * 1000
            time.sleep(POLL)

    def summary(self) -> dict:
        return self.s.get(f"{self.base}/actors/{self.aid}/executions", timeout=30).json()["result"]

    def close(self) -> None:
        self.s.delete(f"{self.base}/actors/{self.aid}", timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40, help="messages / docker runs per side")
    parser.add_argument("--image", default="abaco/echo:latest")
    parser.add_argument("--url", default=os.environ.get("ABACO_URL", "http://127.0.0.1:8000"))
    args = parser.parse_args()
    cfg = load_config(env={**os.environ, "ABACO_HOME": str(ROOT)})
    token = Authenticator.from_file(cfg.auth).mint("bench", "bench", [Role.USER])

    t0 = time.perf_counter()
    trip = AbacoRoundTrip(args.url, token, args.image)
    try:
        trip()  # cold start: the worker is spawned for the first message
        cold = (time.perf_counter() - t0) * 1000
        floor, confined, abaco, polled = [], [], [], []
        flags = confinement_flags(cfg)
        for _ in range(args.n):  # interleaved, so drift in the machine's load hits all sides alike
            floor.append(bare_docker_run(args.image, cfg.worker.network))
            confined.append(bare_docker_run(args.image, cfg.worker.network, flags))
            abaco.append(trip.sync())
            polled.append(trip())
        summary = trip.summary()
    finally:
        trip.close()
    f50, f95 = pct(floor, 50), pct(floor, 95)
    a50, a95 = pct(abaco, 50), pct(abaco, 95)
    print(f"image {args.image}, n={args.n}, network={cfg.worker.network}")
    print(f"{'':38}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    print(f"{'bare docker run --rm':38}{f50:10.1f}{f95:10.1f}{statistics.mean(floor):10.1f}")
    c50, c95 = pct(confined, 50), pct(confined, 95)
    print(f"{'docker run --rm, same confinement':38}{c50:10.1f}{c95:10.1f}{statistics.mean(confined):10.1f}")
    p50, p95 = pct(polled, 50), pct(polled, 95)
    print(f"{'abaco POST -> COMPLETE (sync, warm)':38}{a50:10.1f}{a95:10.1f}{statistics.mean(abaco):10.1f}")
    print(f"{'ratio abaco / floor':38}{a50 / f50:10.2f}{a95 / f95:10.2f}")
    print(f"{'ratio abaco / confined floor':38}{a50 / c50:10.2f}{a95 / c95:10.2f}")
    print(
        f"{'abaco POST, poll GET (every ' + format(POLL * 1000, '.0f') + ' ms)':38}"
        f"{p50:10.1f}{p95:10.1f}{statistics.mean(polled):10.1f}"
    )
    print(f"{'ratio polled / floor':38}{p50 / f50:10.2f}{p95 / f95:10.2f}")
    print(f"cold start, register -> first COMPLETE: {cold:.0f} ms (one sample)")
    print(
        f"executions recorded: {summary['total_executions']}, total runtime {summary['total_runtime']} ms, "
        f"total cpu {summary['total_cpu'] / 1e6:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
