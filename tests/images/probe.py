"""The isolation probe: run inside an actor container, it tries what a hostile actor would.

Baked into the image ``abaco/probe`` (scripts/build-images.sh); it never takes code from its
message. Each check prints one JSON line ``{"check": ..., "refused": bool, "detail": ...}``;
``refused`` is True when the platform held. Only the Python standard library is used.
"""

from __future__ import annotations

import json
import os
import socket
import struct

HOST = os.environ.get("PROBE_HOST", "127.0.0.1")


def report(check: str, refused: bool, detail: str = "") -> None:
    print(json.dumps({"check": check, "refused": refused, "detail": detail[:300]}), flush=True)


# ---------------------------------------------------------------- MongoDB (OP_MSG, tiny BSON)
def _bson(doc: dict) -> bytes:
    out = b""
    for key, value in doc.items():
        k = key.encode() + b"\x00"
        if isinstance(value, bool):
            out += b"\x08" + k + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            out += b"\x10" + k + struct.pack("<i", value)
        elif isinstance(value, str):
            v = value.encode() + b"\x00"
            out += b"\x02" + k + struct.pack("<i", len(v)) + v
        elif isinstance(value, dict):
            out += b"\x03" + k + _bson(value)
    return struct.pack("<i", len(out) + 5) + out + b"\x00"


def _mongo_command(doc: dict) -> bytes:
    body = struct.pack("<I", 0) + b"\x00" + _bson(doc)
    header = struct.pack("<iiii", 16 + len(body), 1, 0, 2013)
    with socket.create_connection((HOST, 27017), timeout=5) as s:
        s.sendall(header + body)
        data = s.recv(65536)
    return data


def probe_mongo() -> None:
    try:
        reply = _mongo_command({"find": "actors", "filter": {}, "$db": "abaco"})
    except OSError as exc:
        report("mongodb without credentials", True, f"no connection: {exc}")
        return
    refused = b"requires authentication" in reply or b"Unauthorized" in reply or b"not authorized" in reply
    report("mongodb without credentials", refused, reply[21:200].decode("latin-1"))


def probe_redis() -> None:
    try:
        with socket.create_connection((HOST, 6379), timeout=5) as s:
            s.sendall(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
            reply = s.recv(4096)
    except OSError as exc:
        report("redis without credentials", True, f"no connection: {exc}")
        return
    report("redis without credentials", reply.startswith(b"-NOAUTH") or b"AUTH" in reply[:40], reply[:80].decode())


def _amqp_login(user: str, password: str) -> tuple[bool, str]:
    """True when RabbitMQ accepts the login (it sends Connection.Tune)."""
    with socket.create_connection((HOST, 5672), timeout=5) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        s.recv(4096)  # Connection.Start
        mechanism = b"PLAIN"
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        args = (
            struct.pack(">I", 0)  # client properties: empty table
            + bytes([len(mechanism)])
            + mechanism
            + struct.pack(">I", len(response))
            + response
            + bytes([5])
            + b"en_US"
        )
        payload = struct.pack(">HH", 10, 11) + args  # Connection.StartOk
        s.sendall(struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce")
        try:
            frame = s.recv(4096)
        except OSError as exc:
            return False, f"closed: {exc}"
    if len(frame) >= 11 and frame[0] == 1:
        cls, meth = struct.unpack(">HH", frame[7:11])
        if (cls, meth) == (10, 30):
            return True, "Connection.Tune: logged in"
        return False, f"method {cls}.{meth}: {frame[11:80]!r}"
    return False, f"closed ({len(frame)} bytes)"


def probe_rabbit() -> None:
    try:
        accepted, detail = _amqp_login("guest", "guest")
    except OSError as exc:
        report("rabbitmq as guest", True, f"no connection: {exc}")
        return
    report("rabbitmq as guest", not accepted, detail)


def probe_raw_socket() -> None:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except OSError as exc:
        report("raw socket", True, str(exc))
        return
    s.close()
    report("raw socket", False, "a raw socket was opened")


def probe_writes() -> None:
    for path in ("/etc/abaco-probe", "/usr/bin/abaco-probe", "/abaco-probe"):
        try:
            with open(path, "w") as fh:
                fh.write("x")
        except OSError as exc:
            report(f"write {path}", True, str(exc))
        else:
            report(f"write {path}", False, "written")


def probe_identity() -> None:
    report("runs as non-root", os.getuid() != 0 and os.getgid() != 0, f"uid={os.getuid()} gid={os.getgid()}")
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    cap_eff = int(status.get("CapEff", "0").strip(), 16)
    report("no capabilities", cap_eff == 0, f"CapEff={cap_eff:x}")
    report("no new privileges", status.get("NoNewPrivs", "0").strip() == "1", f"NoNewPrivs={status.get('NoNewPrivs')}")
    report("no docker socket", not os.path.exists("/var/run/docker.sock"), "")


def probe_secrets() -> None:
    """Print what the container can see, so that the test can look for the platform's secrets."""
    visible = {k: v for k, v in os.environ.items()}
    report("environment", True, json.dumps(sorted(visible))[:300])
    print("ENV-DUMP " + json.dumps(visible), flush=True)


def main() -> None:
    for probe in (
        probe_mongo,
        probe_redis,
        probe_rabbit,
        probe_raw_socket,
        probe_writes,
        probe_identity,
        probe_secrets,
    ):
        try:
            probe()
        except Exception as exc:  # a probe that crashes proves nothing either way
            report(probe.__name__, False, f"probe error: {exc!r}")


if __name__ == "__main__":
    main()
