"""Make MySQL and Kafka ready for the shop, as ``make up`` does before it deploys Serve.

    python -m kuberay.prepare              # the migration Job: migrations, then topics
    python -m kuberay.prepare --wait 900   # the head's init container: wait until done

Both retry while MySQL or Kafka is still starting (their pods start beside this one),
up to ``--timeout`` / ``--wait`` seconds, and exit 1 if it never became ready. The
migrations are cluster/migrate.py's, re-runnable, so a Job that is run again is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping

from cluster.settings import Settings

RETRY_S = 3.0


def _log(message: str) -> None:
    print(f"prepare: {message}", flush=True)


def migrate_and_create_topics(settings: Settings) -> None:
    from cluster.local.kafka import ensure_topics
    from cluster.migrate import apply_migrations

    applied = apply_migrations(settings)
    _log(f"migrations applied now: {applied or 'none (all were)'}")
    asyncio.run(ensure_topics(settings))
    _log(f"topic {settings.kafka_orders_topic!r} is there")


def missing(settings: Settings) -> list[str]:
    """What the migration Job has still to do; empty when the shop may start."""
    from cluster.clients import kafka_admin, mysql_connect
    from cluster.migrate import migrations

    wanted = {version for version, _ in migrations()}
    conn = mysql_connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    gaps = [f"migration {v:04d}" for v in sorted(wanted - done)]

    async def topics() -> set[str]:
        admin = kafka_admin(settings)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    if settings.kafka_orders_topic not in asyncio.run(topics()):
        gaps.append(f"topic {settings.kafka_orders_topic}")
    return gaps


def until(step: Callable[[], bool], timeout_s: float, what: str) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if step():
                return True
        except Exception as exc:  # noqa: BLE001 -- a dependency still starting: try again
            _log(f"{what}: {type(exc).__name__}: {exc}")
        if time.monotonic() >= deadline:
            _log(f"{what}: gave up after {timeout_s:g} s")
            return False
        time.sleep(RETRY_S)


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m kuberay.prepare", description=__doc__)
    parser.add_argument("--wait", type=float, metavar="S", help="only wait until it is done")
    parser.add_argument("--timeout", type=float, default=600.0, metavar="S")
    args = parser.parse_args(argv)
    settings = Settings.from_env(environ)
    if args.wait is not None:

        def ready() -> bool:
            gaps = missing(settings)
            if gaps:
                _log("waiting for the migration Job: " + ", ".join(gaps))
            return not gaps

        return 0 if until(ready, args.wait, "waiting") else 1

    def run() -> bool:
        migrate_and_create_topics(settings)
        return True

    return 0 if until(run, args.timeout, "migrating") else 1


if __name__ == "__main__":
    sys.exit(main())
