"""``python -m cluster.local up|down|status|start NAME|stop NAME``: the Makefile's backend."""

from __future__ import annotations

import argparse
import os
import sys

from cluster.local import stack
from cluster.local.env import env_file, load_settings
from cluster.local.procs import BringUpError
from cluster.local.ray_workers import placement
from cluster.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start everything, wait until healthy")
    sub.add_parser("down", help="stop every service this machine runs for flashsale")
    sub.add_parser("status", help="say which local services run")
    for name in ("start", "stop"):
        one = sub.add_parser(name, help=f"{name} one service")
        one.add_argument("service", choices=sorted(stack.SERVICES))
        if name == "stop":
            one.add_argument("--kill", action="store_true", help="SIGKILL, as a crash would")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(dict(os.environ))
        if args.command == "up":
            health = stack.up(settings)
            parts = ", ".join(f"{k} {v['state']}" for k, v in health.get("parts", {}).items())
            port = settings.http_port
            print(
                f"flashsale is up ({parts})\n"
                f"  storefront and API: http://127.0.0.1:{port}/\n"
                f"  OpenAPI docs:       http://127.0.0.1:{port}/docs\n"
                f"  Ray dashboard:      http://127.0.0.1:{settings.dashboard_port}/\n"
                f"  Prometheus:         {settings.prometheus_url}/\n"
                f"  settings for tools: source {env_file(settings)}"
            )
        elif args.command == "down":
            stack.down(settings)
        elif args.command == "status":
            report = stack.status(settings)
            for name, state in report.items():
                print(f"{name:10} {state}")
            if report["ray"] == "up":
                print(placement(settings))
        elif args.command == "start":
            stack.local_service(settings, args.service).start()
        elif args.command == "stop":
            stack.local_service(settings, args.service).stop(kill=args.kill)
    except (SettingsError, BringUpError, ValueError) as err:
        print(f"flashsale: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
