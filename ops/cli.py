"""``flashsale`` (or ``python -m ops.cli``): operator commands.

    flashsale create-admin --username alice      # password from stdin or a prompt
    flashsale audit [--deal ID ...] [--wait S]   # I1-I5 of docs/design.md; exit 1 on a FAIL
    flashsale hold-relay --seconds S             # hold the order relay S seconds (0: release)

Reads the settings of the running local stack (.flashsale/env) unless they are given in
the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import uuid

import pymysql

from actors.adapters.mysql_catalog import MysqlCatalog
from cluster.local.env import load_settings
from cluster.settings import Settings, SettingsError
from ops import audit
from serve_app.auth import hash_password
from serve_app.backends import Backends
from serve_app.schemas import Credentials


def create_admin(settings: Settings, username: str, password: str) -> str:
    """Create the admin, or make an existing user an admin with this password."""
    Credentials(username=username, password=password)  # the same rules as register
    hashed = hash_password(password)

    async def make() -> str:
        backends = Backends(settings)
        try:
            return await MysqlCatalog(backends).make_admin(str(uuid.uuid4()), username, hashed)
        finally:
            await backends.close()

    return asyncio.run(make())


def audit_command(settings: Settings, deals: list[str] | None, wait_s: float, ray: bool) -> int:
    live = audit.ray_live_counts(settings) if ray else None
    try:
        found, checked = asyncio.run(audit.run(settings, deals, wait_s, live))
    except LookupError as err:
        print(f"flashsale: {err}", file=sys.stderr)
        return 2
    for line in audit.report(found, checked, live is not None):
        print(line)
    return 1 if any(found.values()) else 0


def hold_relay(settings: Settings, seconds: float) -> str:
    # Ray only for the commands that need it: importing it costs a second or two.
    from actors import gateway
    from actors.relay_actor import MAX_HOLD_S
    from cluster.clients import ray_connect

    if not 0 <= seconds <= MAX_HOLD_S:
        raise ValueError(f"--seconds must be 0 to {MAX_HOLD_S:.0f}")
    ray_connect(settings)
    held = gateway.hold_relay(settings, seconds)
    return f"the order relay is held for {held:g} s" if held else "the order relay runs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flashsale", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser(
        "create-admin", help="create an admin account (password from stdin or a prompt)"
    )
    one.add_argument("--username", required=True)
    check = sub.add_parser(
        "audit", help="check invariants I1-I5 for every deal; exit non-zero on a failure"
    )
    check.add_argument("--deal", action="append", help="only this deal (repeatable)")
    check.add_argument(
        "--wait",
        type=float,
        default=30.0,
        help="seconds to let the order pipeline catch up before a failure counts (30)",
    )
    check.add_argument("--no-ray", action="store_true", help="do not compare running shards")
    hold = sub.add_parser(
        "hold-relay",
        help="hold the order relay (events wait in the outboxes) for some seconds; 0 releases it",
    )
    hold.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(dict(os.environ), running_stack=True)
        if args.command == "create-admin":
            password = (
                getpass.getpass("password: ")
                if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\n")
            )
            user_id = create_admin(settings, args.username, password)
            print(f"admin {args.username} is {user_id}")
        elif args.command == "audit":
            return audit_command(settings, args.deal, args.wait, not args.no_ray)
        elif args.command == "hold-relay":
            print(hold_relay(settings, args.seconds))
    except (SettingsError, ValueError, pymysql.MySQLError) as err:
        print(f"flashsale: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
