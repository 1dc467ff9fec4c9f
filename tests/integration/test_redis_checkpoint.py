"""The checkpoint store against the real Redis: atomic, fenced, pool-checked."""

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.clock import SystemClock, new_order_id
from actors.adapters.redis_checkpoint import RedisCheckpointStore
from actors.domain import timers
from actors.domain.ledger import Changes, Counts, OrderStatus, Reservation
from actors.domain.orders import ReserveRequest
from actors.ports import Fenced, OutboxFull, PoolShort
from actors.services.shard import ShardService
from tests.fakes import deal_of
from tests.random_refs import suffix


@pytest.fixture
async def deal_id(redis: aioredis.Redis) -> AsyncIterator[str]:
    deal = f"test-{suffix()}"
    yield deal
    async for key in redis.scan_iter(match=f"fs:{{{deal}}}:*"):
        await redis.delete(key)


def reservation(order_id: str) -> Reservation:
    return Reservation(order_id, "u1", 2, "k", OrderStatus.RESERVED, 1.0, 901.0)


async def test_commit_then_load_round_trips(redis, deal_id) -> None:
    # Its own outbox registry: the cluster's relay must not drain this outbox meanwhile.
    registry = f"test:outboxes:{suffix()}"
    store = RedisCheckpointStore(redis, outbox_max=10_000, registry=registry)
    await redis.set(keys.pool(deal_id), 10)
    epoch = await store.take_epoch(deal_id, 0)
    event = {"v": 1, "type": "created", "order_id": "o1"}
    changes = Changes(Counts(10, 8, 2, 0), [reservation("o1")], [event], -10)
    await store.commit(deal_id, 0, epoch, changes)
    snap = await store.load(deal_id, 0)
    assert snap.counts == Counts(10, 8, 2, 0)
    assert snap.reservations == [reservation("o1")]
    assert snap.pool == 0
    entries = await redis.xrange(keys.outbox(deal_id))
    assert [json.loads(fields[b"event"]) for _, fields in entries] == [event]
    assert [fields[b"order"] for _, fields in entries] == [b"o1"]  # the relay's Kafka key
    assert await redis.smembers(registry) == {deal_id.encode()}  # marked for the relay
    assert await redis.hget(keys.ORDER_INDEX, "o1") == f"{deal_id}:0".encode()
    await redis.delete(registry)


async def test_a_superseded_epoch_writes_nothing(redis, deal_id) -> None:
    store = RedisCheckpointStore(redis, outbox_max=10_000)
    old = await store.take_epoch(deal_id, 0)
    await store.take_epoch(deal_id, 0)
    with pytest.raises(Fenced):
        await store.commit(deal_id, 0, old, Changes(Counts(1, 1, 0, 0), [reservation("o1")], [], 0))
    assert (await store.load(deal_id, 0)).counts is None
    assert await redis.exists(keys.outbox(deal_id)) == 0


async def test_taking_more_than_the_pool_writes_nothing(redis, deal_id) -> None:
    store = RedisCheckpointStore(redis, outbox_max=10_000)
    await redis.set(keys.pool(deal_id), 3)
    epoch = await store.take_epoch(deal_id, 0)
    with pytest.raises(PoolShort):
        await store.commit(deal_id, 0, epoch, Changes(Counts(4, 4, 0, 0), [], [], -4))
    assert await store.pool(deal_id) == 3
    assert (await store.load(deal_id, 0)).counts is None


async def test_shard_service_survives_a_restart_on_real_redis(redis, deal_id) -> None:
    store = RedisCheckpointStore(redis, outbox_max=10_000)
    await redis.set(keys.pool(deal_id), 6)
    deal = deal_of(deal_id, stock=6, per_user_limit=2, price_cents=100, shards=1)

    class NoSiblings:  # a deal of one shard has none to ask
        async def donate(self, shard: int, at_least: int) -> int:
            return 0

    def service() -> ShardService:
        return ShardService(deal, 0, store, NoSiblings(), SystemClock(), new_order_id, 900)

    first = service()
    await first.start()
    results = await first.reserve_many([ReserveRequest(f"u{i}", 2, "k") for i in range(4)])
    accepted = [r.outcome.reservation for r in results if hasattr(r.outcome, "reservation")]
    assert len(accepted) == 3 and results[3].deal_sold_out
    second = service()
    await second.start()  # fences the first off
    assert second.counts() == Counts(6, 0, 6, 0)
    again = await second.reserve_many([ReserveRequest("u0", 2, "k")])
    assert again[0].outcome.reservation == accepted[0]
    with pytest.raises(Fenced):  # any write of the old copy is refused
        await first.cancel(accepted[1].order_id, accepted[1].user_id)
    assert (await store.load(deal_id, 0)).counts == Counts(6, 0, 6, 0)


async def test_held_orders_carry_their_deadline_and_settled_ones_drop_it(redis, deal_id) -> None:
    store = RedisCheckpointStore(redis, outbox_max=10_000)
    await redis.set(keys.pool(deal_id), 10)
    epoch = await store.take_epoch(deal_id, 0)
    member = timers.expire(deal_id, 0, "o1").encode()
    try:
        held = reservation("o1")
        await store.commit(deal_id, 0, epoch, Changes(Counts(10, 8, 2, 0), [held], [], -10))
        assert await redis.zscore(keys.TIMERS, member) == held.pay_by
        paid = replace(held, status=OrderStatus.PAID, paid_at=2.0)
        await store.commit(deal_id, 0, epoch, Changes(Counts(10, 8, 0, 2), [paid], [], 0))
        assert await redis.zscore(keys.TIMERS, member) is None
    finally:
        await redis.zrem(keys.TIMERS, member)


async def test_a_full_outbox_refuses_new_orders_only(redis, deal_id) -> None:
    registry = f"test:outboxes:{suffix()}"  # out of the cluster's relay's way
    store = RedisCheckpointStore(redis, outbox_max=2, registry=registry)
    await redis.set(keys.pool(deal_id), 10)
    epoch = await store.take_epoch(deal_id, 0)
    created = {"v": 1, "type": "created", "order_id": "o1"}
    await store.commit(deal_id, 0, epoch, Changes(Counts(10, 10, 0, 0), [], [created] * 2, -10))
    with pytest.raises(OutboxFull):
        await store.commit(deal_id, 0, epoch, Changes(Counts(10, 8, 2, 0), [], [created], 0))
    assert (await store.load(deal_id, 0)).counts == Counts(10, 10, 0, 0)  # nothing written
    paid = {"v": 1, "type": "paid", "order_id": "o1"}
    await store.commit(deal_id, 0, epoch, Changes(Counts(10, 10, 0, 0), [], [paid], 0))
    assert await redis.xlen(keys.outbox(deal_id)) == 3
    await redis.delete(registry)
