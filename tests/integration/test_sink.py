"""Kafka -> MySQL through the real broker and MariaDB: one row per order, replays harmless."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from actors.adapters.kafka_source import KafkaEventSource
from actors.adapters.mysql_store import MysqlOrderStore
from actors.services.sink import OrderSinkLoop
from cluster.clients import kafka_consumer, kafka_producer, mysql_pool
from cluster.settings import Settings
from tests.random_refs import suffix


def event(kind: str, order_id: str, status: str, **extra: object) -> dict:
    now = time.time()
    base = {
        "v": 1,
        "type": kind,
        "order_id": order_id,
        "deal_id": "test-deal",
        "user_id": "u1",
        "quantity": 2,
        "amount_cents": 400,
        "status": status,
        "created_at": now,
        "pay_by": now + 900,
        "paid_at": None,
        "cancelled_at": None,
    }
    base.update(extra)
    return base


async def produce(stack: Settings, name: str, payloads: list[bytes | dict]) -> None:
    """Raw bytes go as they are (to test junk); dicts as JSON keyed by their order id."""
    producer = kafka_producer(stack)
    await producer.start()
    try:
        for p in payloads:
            value = p if isinstance(p, bytes) else json.dumps(p).encode()
            key = (p["order_id"] if isinstance(p, dict) else "junk").encode()
            await producer.send_and_wait(name, value, key=key)
    finally:
        await producer.stop()


async def drain(stack: Settings, name: str, group: str, expected: int) -> int:
    written = 0
    async with (
        KafkaEventSource(kafka_consumer(stack, name, group_id=group)) as source,
        MysqlOrderStore(lambda: mysql_pool(stack)) as store,
    ):
        loop = OrderSinkLoop(source, store, max_records=3)
        deadline = time.monotonic() + 60
        while written < expected and time.monotonic() < deadline:
            written += await loop.step()
    return written


async def rows(stack: Settings, order_ids: list[str]) -> dict[str, tuple]:
    pool = await mysql_pool(stack)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            marks = ", ".join(["%s"] * len(order_ids))
            await cur.execute(
                "SELECT order_id, status, quantity, paid_at IS NOT NULL, cancelled_at IS NOT NULL"
                f" FROM orders WHERE order_id IN ({marks})",
                order_ids,
            )
            return {r[0]: r[1:] for r in await cur.fetchall()}
    finally:
        pool.close()
        await pool.wait_closed()


@pytest.mark.timeout(120)
async def test_events_become_one_row_each_and_a_replay_changes_nothing(
    stack: Settings, kafka_topic: str
) -> None:
    name = kafka_topic
    run = suffix()
    kept, paid, dropped, early = (f"{run}-{n}" for n in ("kept", "paid", "dropped", "early"))
    now = time.time()
    events: list[bytes | dict] = [
        event("created", kept, "reserved"),
        event("created", paid, "reserved"),
        event("paid", paid, "paid", paid_at=now),
        event("created", dropped, "reserved"),
        event("cancelled", dropped, "cancelled", cancelled_at=now),
        event("paid", early, "paid", paid_at=now),  # overtakes its own created
        event("created", early, "reserved"),
        b"not json at all",
    ]
    await produce(stack, name, events)
    assert await drain(stack, name, f"g-{run}", expected=7) == 7
    expected = {
        kept: ("reserved", 2, 0, 0),
        paid: ("paid", 2, 1, 0),
        dropped: ("cancelled", 2, 0, 1),
        early: ("paid", 2, 1, 0),
    }
    assert await rows(stack, list(expected)) == expected
    # Another group reads it all again from the start: nothing changes.
    assert await drain(stack, name, f"g2-{run}", expected=7) == 7
    assert await rows(stack, list(expected)) == expected


@pytest.mark.timeout(120)
async def test_events_of_the_wrong_shape_are_skipped_not_retried_forever(
    stack: Settings, kafka_topic: str
) -> None:
    good = event("created", f"{suffix()}-good", "reserved")
    junk: list[bytes | dict] = [b'{"v": 1, "order_id": "x"}', b"[1, 2]", b'{"v": 2}']
    await produce(stack, kafka_topic, [*junk, good])
    assert await drain(stack, kafka_topic, f"g-{suffix()}", expected=1) == 1
    assert (await rows(stack, [good["order_id"]]))[good["order_id"]][0] == "reserved"


@pytest.mark.timeout(120)
async def test_junk_that_would_swallow_its_neighbours_in_one_parse_loses_no_event(
    stack: Settings, kafka_topic: str
) -> None:
    """The source parses a partition's records as one JSON array: these two junk
    records around a good event make a valid array of three elements, the good event
    inside the first. The records are read one by one then, and the event is written."""
    good = event("created", f"{suffix()}-good", "reserved")
    records = [
        (b"[0", b"junk"),
        (json.dumps(good).encode(), good["order_id"].encode()),
        (b"0], 1, 2", b"junk"),
    ]
    producer = kafka_producer(stack)
    await producer.start()
    try:
        for value, key in records:  # one partition: one fetch, one parse
            await producer.send_and_wait(kafka_topic, value, key=key, partition=0)
    finally:
        await producer.stop()
    assert await drain(stack, kafka_topic, f"g-{suffix()}", expected=1) == 1
    assert (await rows(stack, [good["order_id"]]))[good["order_id"]][0] == "reserved"


@pytest.mark.timeout(120)
async def test_strings_and_times_arrive_as_they_left(stack: Settings, kafka_topic: str) -> None:
    """The sink formats its rows itself (actors/adapters/mysql_store.py): quotes,
    backslashes and non-ASCII survive, and times land as UTC to the microsecond."""
    order_id = f"{suffix()}-strings"
    awkward = "o'b\\\"; DROP TABLE x; -- ü"  # user_id is VARCHAR(36)
    created = 1765000000.123456
    e = event("paid", order_id, "paid", user_id=awkward, created_at=created, paid_at=created + 1)
    await produce(stack, kafka_topic, [e])
    assert await drain(stack, kafka_topic, f"g-{suffix()}", expected=1) == 1
    pool = await mysql_pool(stack)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "SELECT user_id, created_at, paid_at, cancelled_at FROM orders WHERE order_id = %s",
                (order_id,),
            )
            user_id, created_at, paid_at, cancelled_at = await cur.fetchone()
    finally:
        pool.close()
        await pool.wait_closed()
    assert user_id == awkward
    assert created_at == datetime(2025, 12, 6, 5, 46, 40, 123456)
    assert paid_at == datetime(2025, 12, 6, 5, 46, 41, 123456)
    assert cancelled_at is None


@pytest.mark.timeout(120)
async def test_rows_mysql_refuses_as_data_are_handed_back_and_the_rest_written(
    stack: Settings,
) -> None:
    """Each of these rows would be refused on every retry; the batch that carries them
    must not stay pending for good with the good orders around them."""
    run = suffix()
    good = [event("created", f"{run}-good-{n}", "reserved") for n in range(2)]
    bad = [
        event("created", f"{run}-long", "reserved", user_id="u" * 37),  # VARCHAR(36)
        event("created", f"{run}-zero", "reserved", quantity=0),  # CHECK quantity > 0
        event("paid", f"{run}-both", "paid", paid_at=1.0, cancelled_at=2.0),  # CHECK
        event("created", f"{run}-kind", "reserved", user_id=7),  # not a string
        event("created", f"{run}-huge", "reserved", quantity=2**40),  # past INT
        event("created", f"{run}-inf", "reserved", created_at=float("inf")),  # JSON 1e400
        event("created", f"{run}-surrogate", "reserved", user_id="\ud800"),  # no UTF-8
    ]
    async with MysqlOrderStore(lambda: mysql_pool(stack)) as store:
        refused = await store.apply([good[0], *bad, good[1]])
        assert [e["order_id"] for e in refused] == [e["order_id"] for e in bad]
        # A batch with nothing wrong goes as one statement and hands nothing back.
        assert await store.apply([event("paid", good[0]["order_id"], "paid", paid_at=3.0)]) == []
    found = await rows(stack, [e["order_id"] for e in good + bad])
    assert found == {
        good[0]["order_id"]: ("paid", 2, 1, 0),
        good[1]["order_id"]: ("reserved", 2, 0, 0),
    }
