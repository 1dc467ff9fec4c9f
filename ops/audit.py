"""``flashsale audit``: gathers the facts of every deal (each shard's checkpoint and live
counts, the deal's pool, answers and deadlines in Redis, its rows in MySQL) and checks
I1-I5 (actors/domain/audit.py). The order pipeline lags by design, so a failing audit is
taken again until it passes or ``wait_s`` runs out; only then is it a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from actors.adapters.mysql_audit import MysqlAuditReader
from actors.adapters.redis_checkpoint import read_deal
from actors.adapters.redis_timers import RedisTimers
from actors.domain.audit import INVARIANTS, DealFacts, ShardFacts, audit
from actors.domain.orders import Counts
from cluster.clients import mysql_pool, redis_client
from cluster.settings import Settings

DEADLINE_GRACE_S = 10.0  # the clock ticks every 0.1 s; this is for a busy machine

LiveCounts = Callable[[str, int], Counts | None]


async def gather(
    redis: aioredis.Redis,
    record: MysqlAuditReader,
    only: list[str] | None,
    live: LiveCounts | None,
) -> list[DealFacts]:
    deadlines = await RedisTimers(redis).pending_deadlines()
    facts = []
    for deal_id, stock, limit, shards in await record.deals(only):
        checkpoint = await read_deal(redis, deal_id, shards)
        shard_facts = [
            ShardFacts(n, counts, reservations, live(deal_id, n) if live else None)
            for n, (counts, reservations) in enumerate(checkpoint.shards)
        ]
        facts.append(
            DealFacts(
                deal_id,
                stock,
                limit,
                checkpoint.pool,
                shard_facts,
                checkpoint.answers,
                deadlines.get(deal_id, set()),
                await record.orders(deal_id),
            )
        )
    return facts


def ray_live_counts(settings: Settings) -> LiveCounts | None:
    """Counts of the shards that run now (none is started for the audit); None when Ray
    cannot be reached, and the report says so."""
    # Ray only when asked for: importing it costs a second or two.
    from actors import gateway
    from cluster.clients import ray_connect

    try:
        ray_connect(settings)
    except Exception:  # noqa: BLE001 -- the audit still checks Redis and MySQL
        return None

    def live(deal_id: str, shard: int) -> Counts | None:
        return gateway.live_counts(settings, deal_id, shard)

    return live


async def run(
    settings: Settings,
    only: list[str] | None = None,
    wait_s: float = 30.0,
    live: LiveCounts | None = None,
) -> tuple[dict[str, list[str]], int]:
    """(problems per invariant, deals checked), retried until clean or ``wait_s``."""
    redis = redis_client(settings)
    pool = await mysql_pool(settings, maxsize=2)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            facts = await gather(redis, MysqlAuditReader(pool), only, live)
            missing = sorted(set(only or ()) - {f.deal_id for f in facts})
            if missing:
                raise LookupError(f"no such deal: {', '.join(missing)}")
            found = audit(facts, time.time(), DEADLINE_GRACE_S)
            if not any(found.values()) or time.monotonic() >= deadline:
                return found, len(facts)
            await asyncio.sleep(1.0)
    finally:
        pool.close()
        await pool.wait_closed()
        await redis.aclose()


def report(found: dict[str, list[str]], deals: int, live_checked: bool) -> list[str]:
    lines = []
    for name in INVARIANTS:
        problems = found[name]
        if problems:
            lines += [f"{name} FAIL {p}" for p in problems]
        else:
            lines.append(f"{name} ok ({deals} deals)")
    if not live_checked:
        lines.append("note: Ray was not reachable; running shards were not compared")
    return lines
