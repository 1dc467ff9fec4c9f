"""A flash sale through HTTP: thousands of attempts on one deal, and a shard killed mid-sale."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest
import ray

from cluster import names
from cluster.settings import Settings
from tests.e2e.api_client import client, create_deal, purchase, stats, token
from tests.random_refs import suffix


@dataclass
class Attempt:
    user: str
    key: str
    repeat: bool


def plan(buyers: int, attempts: int, repeat_share: float, seed: int) -> list[Attempt]:
    """Fresh attempts, with a share that repeat an earlier (user, key) as a retry would."""
    rng = random.Random(seed)
    run = suffix()
    users = [f"buyer-{run}-{i}" for i in range(buyers)]
    out: list[Attempt] = []
    for i in range(attempts):
        if out and rng.random() < repeat_share:
            earlier = rng.choice(out)
            out.append(Attempt(earlier.user, earlier.key, True))
        else:
            out.append(Attempt(rng.choice(users), f"k{i}", False))
    return out


async def run_sale(
    stack: Settings,
    deal_id: str,
    attempts: list[Attempt],
    in_flight: int,
    retry_503: int = 0,
    on_progress=None,
) -> list[tuple[Attempt, int, dict]]:
    tokens: dict[str, str] = {}
    results: list[tuple[Attempt, int, dict]] = []
    busy = 0
    peak = 0
    sem = asyncio.Semaphore(in_flight)
    async with client(stack, timeout_s=60, connections=in_flight) as api:

        async def one(a: Attempt) -> None:
            nonlocal busy, peak
            tok = tokens.setdefault(a.user, token(stack, a.user))
            async with sem:
                busy += 1
                peak = max(peak, busy)
                for _ in range(retry_503 + 1):
                    response = await purchase(api, deal_id, tok, a.key)
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.2)
                busy -= 1
            results.append((a, response.status_code, response.json()))
            if on_progress is not None:
                await on_progress(results)

        await asyncio.gather(*(one(a) for a in attempts))
    assert peak >= min(in_flight, len(attempts)) * 0.9, f"only {peak} requests were in flight"
    return results


def check_sale(results: list[tuple[Attempt, int, dict]], stock: int, limit: int) -> dict[str, int]:
    statuses = Counter(status for _, status, _ in results)
    # 409 is limit_exceeded: a buyer trying a third fresh key with a limit of 2.
    assert set(statuses) <= {200, 201, 409, 410}, statuses
    assert {b["error"]["code"] for _, s, b in results if s == 409} <= {"limit_exceeded"}
    first: dict[tuple[str, str], str] = {}
    for attempt, status, body in results:
        if status in (200, 201):
            order = body["order_id"]
            assert first.setdefault((attempt.user, attempt.key), order) == order, (
                "a key got two orders"
            )
    per_user = Counter(user for user, _ in first)
    assert max(per_user.values()) <= limit
    assert len(first) == stock, f"{len(first)} units reserved of {stock}"
    return dict(statuses)


@pytest.mark.timeout(600)
async def test_five_thousand_attempts_sell_exactly_the_stock(
    stack: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    # Three shards: selling out takes stock from dry shards' siblings and the pool.
    deal = await create_deal(api, admin_token, stock=300, limit=2, shards=3)
    attempts = plan(buyers=2000, attempts=5000, repeat_share=0.2, seed=7)
    # Buyers retry a 503 with the same key, as the API asks: near the sell-out a shard
    # whose refill found units still moving between siblings answers "retry", not "sold
    # out" (actors/services/shard.py, _refill); seen once in 5,000 on a loaded box.
    results = await run_sale(stack, deal["deal_id"], attempts, in_flight=100, retry_503=5)
    statuses = check_sale(results, stock=300, limit=2)
    assert statuses[410] > 0
    figures = await stats(api, admin_token, deal["deal_id"])
    assert (figures["available"], figures["held"], figures["sold"]) == (0, 300, 0)
    # Sold out means sold out: not one unit was left behind in any shard or the pool.
    assert all(s["available"] == 0 for s in figures["shards"]) and figures["pool"] == 0
    shown = (await api.get(f"/api/deals/{deal['deal_id']}")).json()
    assert shown["remaining"] == 0 and shown["status"] == "sold_out"


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("ray_driver")
async def test_a_shard_killed_mid_sale_loses_nothing(
    stack: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    # One shard of two is killed: the other keeps selling meanwhile.
    deal = await create_deal(api, admin_token, stock=300, limit=2, shards=2)
    deal_id = deal["deal_id"]
    attempts = plan(buyers=2000, attempts=3000, repeat_share=0.2, seed=11)
    killed = asyncio.Event()

    async def kill_when_busy(results) -> None:
        if not killed.is_set() and sum(1 for _, s, _ in results if s == 201) >= 100:
            killed.set()
            shard = ray.get_actor(names.stock_shard(deal_id, 0), namespace=names.NAMESPACE)
            ray.kill(shard, no_restart=False)

    results = await run_sale(
        stack, deal_id, attempts, in_flight=100, retry_503=20, on_progress=kill_when_busy
    )
    assert killed.is_set()
    check_sale(results, stock=300, limit=2)
    figures = await stats(api, admin_token, deal_id)
    assert figures["available"] + figures["held"] + figures["sold"] == 300
    assert figures["held"] == 300
    # After the restart, retried keys still map to their first order.
    for attempt, status, body in results[:200]:
        if status in (200, 201):
            again = await purchase(api, deal_id, token(stack, attempt.user), attempt.key)
            assert again.status_code == 200 and again.json()["order_id"] == body["order_id"]
