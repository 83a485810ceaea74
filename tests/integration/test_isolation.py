"""A hostile actor, as its owner could write it, cannot reach the platform's data or the host.

The probe (tests/images/probe.py, baked into abaco/probe) runs its checks from inside its own
container; its code comes from its image, never from the message.
"""

from __future__ import annotations

import json

from .conftest import ROOT


def _probe_results(client, actors) -> tuple[list[dict], dict]:
    actor = actors("abaco/probe:latest")
    ex = client.wait_execution(actor["id"], client.send(actor["id"], "probe"), timeout=90)
    assert ex["status"] == "COMPLETE", ex
    results, env = [], {}
    for line in client.logs(actor["id"], ex["id"]).splitlines():
        if line.startswith("ENV-DUMP "):
            env = json.loads(line[len("ENV-DUMP ") :])
        elif line.startswith("{"):
            results.append(json.loads(line))
    return results, env


def test_an_actor_container_cannot_reach_the_stores_or_the_host(client, actors):
    results, env = _probe_results(client, actors)
    checks = {r["check"] for r in results}
    expected = {
        "mongodb without credentials",
        "redis without credentials",
        "rabbitmq as guest",
        "raw socket",
        "write /etc/abaco-probe",
        "write /usr/bin/abaco-probe",
        "write /abaco-probe",
        "runs as non-root",
        "no capabilities",
        "no new privileges",
        "no docker socket",
    }
    assert expected <= checks, f"the probe did not run every check: missing {expected - checks}"
    held_not = [f"{r['check']}: {r['detail']}" for r in results if not r["refused"]]
    assert not held_not, "these did not hold:\n" + "\n".join(held_not)

    secrets = [p.read_text().strip() for p in (ROOT / ".data" / "secrets").glob("*_password")]
    secrets.append((ROOT / ".data" / "jwt_secret").read_text().strip())
    leaked = [name for name, value in env.items() if any(s and s in value for s in secrets)]
    assert env and not leaked, f"platform secrets visible in the container's environment: {leaked}"
