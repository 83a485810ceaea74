"""``abaco-admin``: operator commands. ``abaco-admin token --user U --tenant T --role R``."""

from __future__ import annotations

import argparse
import sys

from .auth import Authenticator
from .config import load_config
from .enums import Role
from .errors import AbacoError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="abaco-admin", description="Abaco operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    tok = sub.add_parser("token", help="print a bearer token")
    tok.add_argument("--user", required=True)
    tok.add_argument("--tenant", default=None, help="tenant id (default: general.default_tenant)")
    tok.add_argument("--role", action="append", choices=[r.value for r in Role], help="repeatable; default user")
    tok.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    args = parser.parse_args(argv)
    try:
        cfg = load_config()
        auth = Authenticator.from_file(cfg.auth)
        roles = [Role(r) for r in (args.role or ["user"])]
        print(auth.mint(args.user, args.tenant or cfg.general.default_tenant, roles, ttl=args.ttl))
    except AbacoError as exc:
        print(f"abaco-admin: {exc}", file=sys.stderr)
        return 2
    return 0
