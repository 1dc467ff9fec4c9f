"""StockShard actors on the real Ray cluster and Redis: killed mid-sale, and doubled."""

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import ray
import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.redis_checkpoint import RedisCheckpointStore
from actors.domain.deals import Deal, shard_for_user
from actors.domain.ledger import Accepted, Counts, Refusal, Refused
from actors.domain.orders import ReserveRequest
from actors.gateway import shard_handle
from actors.ports import Fenced
from cluster.settings import Settings
from tests.fakes import deal_of
from tests.random_refs import suffix

pytestmark = pytest.mark.usefixtures("ray_driver")


@pytest.fixture
async def deal(redis: aioredis.Redis) -> AsyncIterator[Deal]:
    info = deal_of(f"test-{suffix()}", stock=300, per_user_limit=2, price_cents=100, shards=2)
    await redis.set(keys.pool(info.deal_id), info.stock)
    yield info
    for n in range(info.shards):
        for namespace in ("flashsale", "flashsale-rival"):
            try:
                ray.kill(ray.get_actor(f"stock:{info.deal_id}:{n}", namespace=namespace))
            except ValueError:
                pass
    async for key in redis.scan_iter(match=f"fs:{{{info.deal_id}}}:*"):
        await redis.delete(key)


async def totals(redis: aioredis.Redis, deal: Deal) -> Counts:
    store = RedisCheckpointStore(redis, outbox_max=10_000)
    snaps = [await store.load(deal.deal_id, n) for n in range(deal.shards)]
    pool = await store.pool(deal.deal_id)
    cs = [s.counts for s in snaps if s.counts is not None]  # a shard never started: share in pool
    return Counts(
        stock=sum(c.stock for c in cs) + pool,
        available=sum(c.available for c in cs) + pool,
        held=sum(c.held for c in cs),
        sold=sum(c.sold for c in cs),
    )


@pytest.mark.timeout(240)
async def test_a_shard_killed_mid_sale_loses_and_doubles_nothing(
    stack: Settings, redis: aioredis.Redis, deal: Deal
) -> None:
    handles = [shard_handle(stack, deal, n) for n in range(deal.shards)]
    buyers = [f"user-{i}" for i in range(400)]
    attempts = [(random.choice(buyers), f"key-{i % 150}") for i in range(900)]
    answers: dict[tuple[str, str], str] = {}

    async def buy(user: str, key: str) -> None:
        shard = shard_for_user(user, deal.shards)
        request = ReserveRequest(user, 1, key)
        result = (await handles[shard].reserve_many.remote([request]))[0]
        if isinstance(result.outcome, Accepted):
            first = answers.setdefault((user, key), result.outcome.reservation.order_id)
            assert first == result.outcome.reservation.order_id  # same key, same order

    killed: dict[str, int] = {}

    async def killer() -> None:
        while len(answers) < 60:  # noqa: ASYNC110 -- mid-sale: some sold, most still to come
            await asyncio.sleep(0.01)
        before = await handles[0].info.remote()
        killed.update(pid=before["pid"], epoch=before["epoch"])
        ray.kill(handles[0], no_restart=False)

    sem = asyncio.Semaphore(100)

    async def bounded(user: str, key: str) -> None:
        async with sem:
            await buy(user, key)

    await asyncio.gather(killer(), *(bounded(u, k) for u, k in attempts))
    info = await handles[0].info.remote()
    assert info["pid"] != killed["pid"] and info["epoch"] > killed["epoch"], "not restarted"
    assert info["violations"] == []
    t = await totals(redis, deal)
    assert t.stock == 300 and t.available + t.held + t.sold == 300
    assert t.held == len(set(answers.values()))
    # Replays after the restart still map every key to its first order.
    for (user, key), order_id in list(answers.items())[:50]:
        shard = shard_for_user(user, deal.shards)
        again = (await handles[shard].reserve_many.remote([ReserveRequest(user, 1, key)]))[0]
        assert again.outcome.reservation.order_id == order_id


@pytest.mark.timeout(240)
async def test_a_second_copy_fences_the_first(
    stack: Settings, redis: aioredis.Redis, deal: Deal
) -> None:
    first = shard_handle(stack, deal, 0)
    sold_first = await first.reserve_many.remote(
        [ReserveRequest(f"a{i}", 2, "k") for i in range(10)]
    )
    assert all(isinstance(r.outcome, Accepted) for r in sold_first)
    # Another Ray namespace stands in for a second cluster on the same Redis.
    rival = shard_handle(stack, deal, 0, namespace="flashsale-rival")
    assert (await rival.counts.remote()).held == 20
    with pytest.raises(Fenced):
        await first.reserve_many.remote([ReserveRequest("late", 1, "k")])
    with pytest.raises(Fenced):
        await first.cancel.remote(sold_first[0].outcome.reservation.order_id, "a0")
    assert (await first.info.remote())["fenced"]
    # Only the newest copy sells; all it sold and all the first sold stay within stock.
    for i in range(200):
        result = (await rival.reserve_many.remote([ReserveRequest(f"b{i}", 2, "k")]))[0]
        if result.outcome == Refused(Refusal.SOLD_OUT):
            break
    t = await totals(redis, deal)
    assert t.held <= 300 and t.available + t.held + t.sold == 300


@pytest.mark.timeout(120)
async def test_a_dry_shard_is_refilled_by_its_sibling_actor(
    stack: Settings, redis: aioredis.Redis, deal: Deal
) -> None:
    handles = [shard_handle(stack, deal, n) for n in range(deal.shards)]
    await asyncio.gather(*(h.counts.remote() for h in handles))  # both started: pool empty
    # Buyers of shard 1 only: past its 150 units it must take from shard 0.
    buyers = [f"u{i}" for i in range(2000) if shard_for_user(f"u{i}", deal.shards) == 1][:200]
    results = await handles[1].reserve_many.remote([ReserveRequest(u, 1, "k") for u in buyers])
    sold = sum(1 for r in results if isinstance(r.outcome, Accepted))
    assert sold == 200
    t = await totals(redis, deal)
    assert (t.stock, t.held) == (300, 200)
