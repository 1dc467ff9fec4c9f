"""A purchase, a payment and a cancel reach Kafka's orders topic through the relay, and
MySQL after it; an operator's hold keeps them in the outbox until released."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from actors.adapters import redis_keys as keys
from actors.gateway import publisher_handle
from cluster.clients import kafka_consumer, kafka_producer, mysql_connect, redis_client
from cluster.settings import Settings
from tests.e2e.api_client import bearer, create_deal, purchase, token
from tests.random_refs import suffix


@pytest.mark.timeout(120)
async def test_order_events_reach_the_orders_topic(stack: Settings, api, admin_token) -> None:
    deal = await create_deal(api, admin_token, stock=5, limit=2)
    buyer = token(stack, f"b-{suffix()}")
    paid = (await purchase(api, deal["deal_id"], buyer, "one")).json()["order_id"]
    dropped = (await purchase(api, deal["deal_id"], buyer, "two")).json()["order_id"]
    assert (await api.post(f"/api/orders/{paid}/pay", headers=bearer(buyer))).status_code == 200
    assert (
        await api.post(f"/api/orders/{dropped}/cancel", headers=bearer(buyer))
    ).status_code == 200

    wanted = {(paid, "created"), (paid, "paid"), (dropped, "created"), (dropped, "cancelled")}
    seen: list[tuple[str, str]] = []
    consumer = kafka_consumer(stack, stack.kafka_orders_topic, group_id=None)
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while not wanted <= set(seen):
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for r in records:
                        # The topic also holds the junk that the test of the sink's
                        # unwritable events puts there, as a real topic may.
                        try:
                            event = json.loads(r.value)
                        except ValueError:
                            continue
                        if isinstance(event, dict) and event.get("deal_id") == deal["deal_id"]:
                            assert r.key.decode() == event["order_id"]
                            assert event["v"] == 1
                            seen.append((event["order_id"], event["type"]))
    finally:
        await consumer.stop()
    for order_id in (paid, dropped):
        kinds = [kind for o, kind in seen if o == order_id]
        assert kinds[0] == "created"


@pytest.mark.timeout(120)
async def test_the_mysql_record_follows_within_seconds(stack: Settings, api, admin_token) -> None:
    from cluster.clients import mysql_pool

    deal = await create_deal(api, admin_token, stock=5, limit=2, price_cents=250)
    buyer = token(stack, f"b-{suffix()}")
    kept = (await purchase(api, deal["deal_id"], buyer, "one", quantity=2)).json()["order_id"]
    assert (await api.post(f"/api/orders/{kept}/pay", headers=bearer(buyer))).status_code == 200
    pool = await mysql_pool(stack)
    try:
        row = None
        async with asyncio.timeout(30):
            while row is None or row[1] != "paid":
                async with pool.acquire() as conn, conn.cursor() as cur:
                    await cur.execute(
                        "SELECT deal_id, status, quantity, amount_cents, paid_at IS NOT NULL"
                        " FROM orders WHERE order_id = %s",
                        (kept,),
                    )
                    row = await cur.fetchone()
                    await conn.commit()  # a fresh snapshot on the next read
                await asyncio.sleep(0.2)
        assert row == (deal["deal_id"], "paid", 2, 500, 1)
    finally:
        pool.close()
        await pool.wait_closed()


def _hold_relay(settings: Settings, seconds: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "hold-relay", "--seconds", seconds],
        capture_output=True,
        text=True,
        env={**os.environ, **settings.to_env()},
        timeout=60,
    )


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("ray_driver")
async def test_a_held_relay_keeps_events_in_the_outbox_until_released(
    stack: Settings, api, admin_token
) -> None:
    refused = _hold_relay(stack, "601")
    assert refused.returncode == 1 and "0 to 600" in refused.stderr
    deal = await create_deal(api, admin_token, stock=5, limit=2)
    buyer = token(stack, f"b-{suffix()}")
    held = _hold_relay(stack, "60")
    try:
        assert held.returncode == 0, held.stderr
        assert "held for 60 s" in held.stdout
        order_id = (await purchase(api, deal["deal_id"], buyer, "one")).json()["order_id"]
        # Proof that the relay ran while held: a few of its rounds began after the order
        # was in the outbox (each would have sent it, had the relay not been held).
        publisher = publisher_handle(stack)
        after = time.time() + 0.5
        async with asyncio.timeout(30):
            while True:
                last_round = (await publisher.stats.remote())["last_step"]
                if last_round > after:
                    break
                await asyncio.sleep(0.1)
        redis = redis_client(stack)
        try:
            assert await redis.xlen(keys.outbox(deal["deal_id"])) == 1
        finally:
            await redis.aclose()
        assert await _order_status(stack, order_id) is None
    finally:
        released = _hold_relay(stack, "0")
    assert released.returncode == 0 and "runs" in released.stdout, released.stderr
    status = None
    async with asyncio.timeout(30):
        while status != "reserved":
            await asyncio.sleep(0.2)
            status = await _order_status(stack, order_id)


async def _order_status(settings: Settings, order_id: str) -> str | None:
    conn = await asyncio.to_thread(mysql_connect, settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM orders WHERE order_id = %s", (order_id,))
            row = cur.fetchone()
        return None if row is None else str(row[0])
    finally:
        conn.close()


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("ray_driver")
async def test_events_the_sink_can_never_write_are_counted_and_hold_nothing_back(
    stack: Settings, api, admin_token
) -> None:
    """A record that is no order event, and an event whose row MySQL refuses (a CHECK),
    in every partition of the orders topic ahead of a real order: the sink counts each
    (stats and metric) and the order behind them reaches MySQL."""
    from actors.gateway import sink_handle

    sink = sink_handle(stack)
    before = (await sink.stats.remote())["unwritable"]
    now = time.time()
    refused = {
        "v": 1,
        "type": "created",
        "order_id": f"refused-{suffix()}",
        "deal_id": f"test-refused-{suffix()}",
        "user_id": "u1",
        "quantity": 0,  # CHECK quantity > 0
        "amount_cents": 0,
        "status": "reserved",
        "created_at": now,
        "pay_by": now + 900,
        "paid_at": None,
        "cancelled_at": None,
    }
    producer = kafka_producer(stack)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(stack.kafka_orders_topic))
        for p in partitions:
            await producer.send_and_wait(
                stack.kafka_orders_topic, b"not an event", key=b"junk", partition=p
            )
            await producer.send_and_wait(
                stack.kafka_orders_topic,
                json.dumps(refused).encode(),
                key=refused["order_id"].encode(),
                partition=p,
            )
    finally:
        await producer.stop()
    deal = await create_deal(api, admin_token, stock=5, limit=2)
    buyer = token(stack, f"b-{suffix()}")
    order_id = (await purchase(api, deal["deal_id"], buyer, "one")).json()["order_id"]
    status = None
    async with asyncio.timeout(60):
        while status != "reserved":
            await asyncio.sleep(0.2)
            status = await _order_status(stack, order_id)
    n = len(partitions)

    async def counted() -> tuple[int, int]:
        after = (await sink.stats.remote())["unwritable"]
        return after["shape"] - before["shape"], after["refused"] - before["refused"]

    seen = await counted()
    async with asyncio.timeout(30):  # the other partitions' steps may trail this one's
        while min(seen) < n:
            await asyncio.sleep(0.2)
            seen = await counted()
    assert seen == (n, n)
    assert await _order_status(stack, refused["order_id"]) is None
