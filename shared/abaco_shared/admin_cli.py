"""``abaco-admin``: operator commands.

abaco-admin token --user U --tenant T --role R   print a bearer token (for any tenant whose key can sign)
abaco-admin token ... --header [bearer|tapis]     print it as a header line: 'Authorization: Bearer ...'
                                                 or 'X-Tapis-Token: ...' (e.g. for curl -H)
abaco-admin config                               print the effective configuration (secrets hidden)
abaco-admin workers [--tenant T] [--json]         every worker: actor, host, pid, container, status, heartbeat
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import docker.errors
import pymongo.errors
import redis

from . import worker_report
from .auth import Authenticator
from .config import Config, load_config
from .containers import DockerEngine
from .enums import Role
from .errors import AbacoError, DockerError
from .store import connect_mongo, connect_redis

__all__ = ["main"]

HEADERS = {"bearer": "Authorization: Bearer {token}", "tapis": "X-Tapis-Token: {token}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="abaco-admin", description="Abaco operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    tok = sub.add_parser("token", help="print a bearer token")
    tok.add_argument("--user", required=True)
    tok.add_argument("--tenant", default=None, help="tenant id (default: general.default_tenant)")
    tok.add_argument("--role", action="append", choices=[r.value for r in Role], help="repeatable; default user")
    tok.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    tok.add_argument(
        "--header",
        nargs="?",
        const="bearer",
        choices=sorted(HEADERS),
        help="print a whole header line: 'Authorization: Bearer <token>' (bearer, the default) "
        "or 'X-Tapis-Token: <token>' (tapis)",
    )
    sub.add_parser("config", help="print the effective configuration as TOML (secrets hidden)")
    wrk = sub.add_parser("workers", help="list the workers with their host, pid, container, status and heartbeat")
    wrk.add_argument("--tenant", default=None, help="only this tenant's workers (default: every tenant's)")
    wrk.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        cfg = load_config()
        if args.command == "config":
            print(config_toml(cfg), end="")
            return 0
        if args.command == "workers":
            return print_workers(cfg, args.tenant, args.json)
        auth = Authenticator.from_config(cfg)
        roles = [Role(r) for r in (args.role or ["user"])]
        token = auth.mint(args.user, args.tenant or cfg.general.default_tenant, roles, ttl=args.ttl)
        print(HEADERS[args.header].format(token=token) if args.header else token)
    except AbacoError as exc:
        print(f"abaco-admin: {exc}", file=sys.stderr)
        return 2
    return 0


def config_toml(cfg: Config) -> str:
    """The effective configuration as TOML; fields kept out of repr (credentials) are hidden."""
    out = []
    for section in dataclasses.fields(cfg):
        out.append(f"[{section.name}]")
        values = getattr(cfg, section.name)
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            shown = "<hidden>" if not f.repr else value
            out.append(f"{f.name} = {json.dumps(list(shown) if isinstance(shown, tuple) else shown)}")
        out.append("")
    return "\n".join(out)


def print_workers(cfg: Config, tenant: str | None, as_json: bool) -> int:
    """``abaco-admin workers``: see :mod:`abaco_shared.worker_report`."""
    connect_mongo(cfg.mongo)
    client = connect_redis(cfg.redis)
    try:
        engine = DockerEngine(cfg.host.docker_url, timeout=5)
        containers = worker_report.running_containers(engine, cfg.general.install_id)
    except (DockerError, docker.errors.DockerException):  # no engine here: no containers shown
        containers = {}
    try:
        rows = worker_report.collect(client, cfg.redis.key_prefix, containers, tenant.lower() if tenant else None)
    except (pymongo.errors.PyMongoError, redis.RedisError) as exc:
        print(f"abaco-admin: cannot read the workers: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    print((worker_report.render_json if as_json else worker_report.render_table)(rows), end="")
    return 0
