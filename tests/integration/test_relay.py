"""Outbox -> Kafka through the real Redis and the real broker: nothing lost, in order."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.clock import SystemClock, new_order_id
from actors.adapters.kafka_publisher import KafkaEventPublisher
from actors.adapters.redis_checkpoint import RedisCheckpointStore
from actors.adapters.redis_outbox import RedisOutbox
from actors.domain.orders import ReserveRequest
from actors.services.relay import OutboxRelay
from actors.services.shard import ShardService
from cluster.clients import kafka_consumer, kafka_producer
from cluster.settings import Settings
from tests.fakes import deal_of
from tests.random_refs import suffix


class NoSiblings:  # a deal of one shard has none to ask
    async def donate(self, shard: int, at_least: int) -> int:
        return 0


async def sell(redis: aioredis.Redis, deal_id: str, registry: str) -> list[str]:
    """A small sale on a real shard: 6 orders, 2 paid, 2 cancelled. Returns order ids."""
    await redis.set(keys.pool(deal_id), 6)
    deal = deal_of(deal_id, stock=6, per_user_limit=1, price_cents=100, shards=1)
    shard = ShardService(
        deal,
        0,
        # Its own registry: the cluster's relay must not drain this outbox meanwhile.
        RedisCheckpointStore(redis, outbox_max=10_000, registry=registry),
        NoSiblings(),
        SystemClock(),
        new_order_id,
        900,
    )
    await shard.start()
    results = await shard.reserve_many([ReserveRequest(f"u{i}", 1, "k") for i in range(6)])
    orders = [r.outcome.reservation for r in results]
    for r in orders[:2]:
        await shard.pay(r.order_id, r.user_id)
    for r in orders[2:4]:
        await shard.cancel(r.order_id, r.user_id)
    return [r.order_id for r in orders]


async def consume(stack: Settings, name: str, want: int) -> list[dict]:
    consumer = kafka_consumer(stack, name, group_id=None)
    await consumer.start()
    events: list[dict] = []
    try:
        async with asyncio.timeout(60):
            while len(events) < want:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    events += [json.loads(r.value) for r in records]
            extra = await consumer.getmany(timeout_ms=1000)  # and nothing more
            for records in extra.values():
                events += [json.loads(r.value) for r in records]
    finally:
        await consumer.stop()
    return events


@pytest.mark.timeout(120)
async def test_every_event_reaches_kafka_in_order_and_leaves_the_outbox(
    stack: Settings, redis: aioredis.Redis, kafka_topic: str
) -> None:
    deal_id = f"test-{suffix()}"
    registry = f"test:outboxes:{suffix()}"
    order_ids = await sell(redis, deal_id, registry)
    assert await redis.sismember(registry, deal_id)  # the shard's checkpoint marked its outbox
    outbox = RedisOutbox(redis, registry, known=f"{registry}:deals")
    # What the relay's gauges read: the depth, and when the oldest event was written.
    ((depth, oldest),) = (await outbox.backlog()).values()
    assert depth == 10 and oldest is not None and 0 <= time.time() - oldest < 60
    producer = kafka_producer(stack)
    await producer.start()
    try:
        relay = OutboxRelay(outbox, KafkaEventPublisher(producer, kafka_topic), batch=4)
        assert await relay.drain_once() == 10  # 6 created, 2 paid, 2 cancelled
        assert await relay.drain_once() == 0
    finally:
        await producer.stop()
    assert await outbox.backlog() == {}  # drained: unmarked, the relay reads it no more
    assert not await redis.sismember(registry, deal_id)
    assert await redis.xlen(keys.outbox(deal_id)) == 0
    events = await consume(stack, kafka_topic, 10)
    assert len(events) == 10
    for order_id in order_ids:
        kinds = [e["type"] for e in events if e["order_id"] == order_id]
        assert kinds[0] == "created" and len(kinds) <= 2, kinds
    await redis.delete(registry)


@pytest.mark.timeout(120)
async def test_a_crash_before_the_acknowledgement_resends_and_loses_nothing(
    stack: Settings, redis: aioredis.Redis, kafka_topic: str
) -> None:
    deal_id = f"test-{suffix()}"
    registry = f"test:outboxes:{suffix()}"
    known = f"{registry}:deals"  # the sweep's: not the cluster's deals
    await sell(redis, deal_id, registry)

    class CrashingOutbox(RedisOutbox):
        async def acknowledge(self, through: dict[str, str]) -> None:
            raise ConnectionError("the relay died after Kafka acknowledged")

    producer = kafka_producer(stack)
    await producer.start()
    try:
        publisher = KafkaEventPublisher(producer, kafka_topic)
        with pytest.raises(ConnectionError):
            await OutboxRelay(CrashingOutbox(redis, registry, known), publisher).drain_once()
        assert await redis.xlen(keys.outbox(deal_id)) == 10  # nothing left the outbox
        assert await OutboxRelay(RedisOutbox(redis, registry, known), publisher).drain_once() == 10
    finally:
        await producer.stop()
    events = await consume(stack, kafka_topic, 20)
    # At least once: every event twice here, none missing; the sink's writes are idempotent.
    assert len(events) == 20
    assert len({(e["order_id"], e["type"]) for e in events}) == 10
    await redis.delete(registry)


@pytest.mark.timeout(60)
async def test_a_sweep_marks_outboxes_with_events_and_no_mark(redis: aioredis.Redis) -> None:
    """A shard of code older than the marks wrote events and marked nothing: the
    relay's sweep over the known deals finds them (and only them)."""
    sold, quiet = f"test-{suffix()}", f"test-{suffix()}"
    registry = f"test:outboxes:{suffix()}"
    known = f"{registry}:deals"
    await sell(redis, sold, registry)
    await redis.delete(registry)  # as if no checkpoint had marked it
    await redis.zadd(known, {sold: time.time() + 60, quiet: time.time() + 60})
    outbox = RedisOutbox(redis, registry, known)
    try:
        assert await outbox.take(100, 1000) == {}
        assert await outbox.sweep() == 1
        assert list(await outbox.take(100, 1000)) == [sold]
        assert await outbox.sweep() == 0  # already marked
    finally:
        await redis.delete(registry, known, keys.outbox(sold))


@pytest.mark.timeout(60)
async def test_an_acknowledgement_trims_the_head_and_one_that_empties_the_outbox_unmarks_it(
    redis: aioredis.Redis,
) -> None:
    deal_id = f"test-{suffix()}"
    registry = f"test:outboxes:{suffix()}"
    await sell(redis, deal_id, registry)
    outbox = RedisOutbox(redis, registry, known=f"{registry}:deals")
    try:
        entries = (await outbox.take(100, 1000))[deal_id]
        assert len(entries) == 10
        assert {json.loads(e.payload)["order_id"] for e in entries} == {e.order_id for e in entries}
        await outbox.acknowledge({deal_id: entries[3].entry_id})
        assert await outbox.take(100, 1000) == {deal_id: entries[4:]}  # six still wait, in order
        await outbox.acknowledge({deal_id: entries[-1].entry_id})
        assert await redis.xlen(keys.outbox(deal_id)) == 0
        assert not await redis.sismember(registry, deal_id)
    finally:
        await redis.delete(registry)


@pytest.mark.timeout(60)
async def test_a_take_unmarks_an_empty_outbox_and_reads_events_written_without_an_order(
    redis: aioredis.Redis,
) -> None:
    """An outbox written before the order id was kept beside each event (an upgraded
    stack) still goes out, keyed by the event's own order id."""
    old, empty = f"test-{suffix()}", f"test-{suffix()}"
    registry = f"test:outboxes:{suffix()}"
    payload = json.dumps({"order_id": "o-old"}).encode()
    await redis.xadd(keys.outbox(old), {"event": payload})
    await redis.sadd(registry, old, empty)
    outbox = RedisOutbox(redis, registry, known=f"{registry}:deals")
    try:
        ((entry,),) = (await outbox.take(100, 1000)).values()
        assert (entry.order_id, entry.payload) == ("o-old", payload)
        assert await redis.smembers(registry) == {old.encode()}  # the empty one unmarked
    finally:
        await redis.delete(registry, keys.outbox(old))


@pytest.mark.timeout(60)
async def test_a_take_is_bounded_in_all_and_the_next_starts_at_another_deal(
    redis: aioredis.Redis,
) -> None:
    first, second = f"test-{suffix()}", f"test-{suffix()}"
    registry = f"test:outboxes:{suffix()}"
    await sell(redis, first, registry)
    await sell(redis, second, registry)  # 10 events each
    outbox = RedisOutbox(redis, registry, known=f"{registry}:deals")
    try:
        one = await outbox.take(100, 15)
        assert sum(len(es) for es in one.values()) == 15
        two = await outbox.take(100, 15)
        assert next(iter(two)) != next(iter(one))  # it started one deal further along
        for entries in (one | two).values():
            assert len(entries) <= 10
            assert entries == sorted(entries, key=lambda e: tuple(map(int, e.entry_id.split("-"))))
    finally:
        await redis.delete(registry, keys.outbox(first), keys.outbox(second))
