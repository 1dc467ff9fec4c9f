"""The DealClock actor on the real Ray cluster and Redis: deadlines, preheat, retire,
and timers that outlive the actor."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import ray
import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.redis_deals import RedisDeals
from actors.adapters.redis_timers import RedisTimers
from actors.domain import timers
from actors.domain.deals import Deal
from actors.domain.orders import Accepted, OrderStatus, ReserveRequest
from actors.gateway import clock_handle, shard_handle
from cluster import names
from cluster.settings import Settings
from tests.fakes import deal_of
from tests.random_refs import suffix

pytestmark = pytest.mark.usefixtures("ray_driver")


def running(deal_id: str, shard: int) -> bool:
    try:
        ray.get_actor(names.stock_shard(deal_id, shard), namespace=names.NAMESPACE)
    except ValueError:
        return False
    return True


async def eventually(check, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "the clock did not act in time"
        await asyncio.sleep(0.2)


@pytest.fixture
async def deal(redis: aioredis.Redis) -> AsyncIterator[Deal]:
    """A deal as the catalogue caches it (the clock reads nothing else), already ended,
    so that the shards can be retired once nothing is held."""
    now = time.time()
    record = deal_of(
        f"test-{suffix()}",
        stock=20,
        per_user_limit=2,
        starts_ts=now - 60,
        ends_ts=now - 1,
        shards=2,
    )
    await RedisDeals(redis).cache(record)
    yield record
    for n in range(record.shards):
        if running(record.deal_id, n):
            ray.kill(ray.get_actor(names.stock_shard(record.deal_id, n), namespace=names.NAMESPACE))
    async for key in redis.scan_iter(match=f"fs:{{{record.deal_id}}}:*"):
        await redis.delete(key)
    await redis.srem(keys.OUTBOXES, record.deal_id)
    await redis.zrem(keys.DEALS, record.deal_id)
    for kind in (timers.preheat, timers.retire):
        await redis.zrem(keys.TIMERS, kind(record.deal_id).encode())


@pytest.mark.timeout(120)
async def test_timers_fire_after_the_clock_was_killed(
    stack: Settings, redis: aioredis.Redis, deal: Deal
) -> None:
    clock = clock_handle(stack)
    await clock.stats.remote()  # running
    timers_set = RedisTimers(redis)
    await timers_set.schedule(timers.preheat(deal.deal_id), time.time())

    async def preheated() -> bool:
        gone = await redis.zscore(keys.TIMERS, timers.preheat(deal.deal_id).encode()) is None
        return gone and all(running(deal.deal_id, n) for n in range(deal.shards))

    await eventually(preheated)
    assert await redis.get(keys.pool(deal.deal_id)) == b"0"  # both shards took their share

    # Orders with a 3 s window, on shard 0; one of them is paid in time.
    shard = shard_handle(stack, deal, 0)
    results = await shard.reserve_many.remote(
        [ReserveRequest(f"u{i}", 1, f"k{i}") for i in range(5)], 3.0
    )
    orders = [r.outcome.reservation for r in results]
    assert all(isinstance(r.outcome, Accepted) for r in results)
    assert isinstance(await shard.pay.remote(orders[0].order_id, orders[0].user_id), Accepted)
    pending = {m for m, _ in await timers_set.due(time.time() + 10, 10_000) if deal.deal_id in m}
    assert pending == {timers.expire(deal.deal_id, 0, o.order_id).encode() for o in orders[1:]}

    # The clock dies with every deadline pending (Ray restarts it: a new process).
    ray.kill(clock, no_restart=False)

    async def all_settled() -> bool:
        found = [await shard.order.remote(o.order_id) for o in orders]
        return all(r.status is not OrderStatus.RESERVED for r in found)

    await eventually(all_settled)
    found = [await shard.order.remote(o.order_id) for o in orders]
    assert [r.status for r in found] == [OrderStatus.PAID] + [OrderStatus.CANCELLED] * 4
    assert all(r.cancelled_at >= r.pay_by for r in found[1:])  # not one moment early
    counts = await shard.counts.remote()
    assert (counts.held, counts.sold, counts.available + counts.sold) == (0, 1, counts.stock)
    assert not [m for m, _ in await timers_set.due(time.time() + 10, 10_000) if deal.deal_id in m]

    # The deal has ended and nothing is held: retiring stops its shards' processes.
    await timers_set.schedule(timers.retire(deal.deal_id), time.time())

    async def retired() -> bool:
        return not any(running(deal.deal_id, n) for n in range(deal.shards))

    await eventually(retired)


@pytest.mark.timeout(400)
async def test_timers_outlive_the_whole_ray_instance(
    stack: Settings, redis: aioredis.Redis, deal: Deal
) -> None:
    from cluster.local import stack as local_stack
    from tests.integration.conftest import owned

    await RedisDeals(redis).open_pool(deal)
    shard = shard_handle(stack, deal, 1)
    # A window longer than stopping Ray takes: the running clock must not fire it first.
    results = await shard.reserve_many.remote([ReserveRequest("u1", 2, "k")], 12.0)
    order = results[0].outcome.reservation
    member = timers.expire(deal.deal_id, 1, order.order_id).encode()
    assert await redis.zscore(keys.TIMERS, member) == order.pay_by

    # All of Ray goes away (shards, clock, Serve) and its deadline passes meanwhile.
    head = owned(stack, "ray")
    ray.shutdown()
    await asyncio.to_thread(head.stop)
    try:
        await asyncio.sleep(max(0.0, order.pay_by - time.time()))
        assert await redis.zscore(keys.TIMERS, member) is not None  # nobody fired it
    finally:
        await asyncio.to_thread(local_stack.up, stack)  # a new Ray, a new DealClock
        ray.init(
            address=stack.ray_address,
            namespace=names.NAMESPACE,
            log_to_driver=False,
            logging_level="warning",
        )

    async def cancelled() -> bool:
        raw = await redis.hget(keys.reservations(deal.deal_id, 1), order.order_id)
        return json.loads(raw)["status"] == "cancelled"

    await eventually(cancelled, timeout_s=60)
    assert await redis.zscore(keys.TIMERS, member) is None
    counts = await redis.hgetall(keys.counts(deal.deal_id, 1))
    assert int(counts[b"held"]) == 0 and int(counts[b"available"]) == int(counts[b"stock"])
