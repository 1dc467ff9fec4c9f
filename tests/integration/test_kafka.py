"""A produce/consume round trip through the real broker, on a topic of its own."""

import asyncio
import json

import pytest

from cluster.clients import kafka_admin, kafka_consumer, kafka_producer
from cluster.settings import Settings


@pytest.mark.timeout(120)
async def test_round_trip_keeps_order_per_key(stack: Settings, kafka_topic: str) -> None:
    name = kafka_topic
    producer = kafka_producer(stack)
    consumer = kafka_consumer(stack, name, group_id=f"g-{name}")
    try:
        await producer.start()
        sent = [(f"order-{i % 5}", {"v": 1, "seq": i}) for i in range(50)]
        for k, event in sent:
            await producer.send_and_wait(name, json.dumps(event).encode(), key=k.encode())
        await consumer.start()
        received: list[tuple[str, dict[str, int]]] = []
        async with asyncio.timeout(60):
            while len(received) < len(sent):
                batches = await consumer.getmany(timeout_ms=1000, max_records=20)
                for records in batches.values():
                    received += [(r.key.decode(), json.loads(r.value)) for r in records]
        await consumer.commit()
        assert sorted(e["seq"] for _, e in received) == list(range(50))
        # Kafka orders per partition, and one key always lands on one partition.
        for order_key in {k for k, _ in sent}:
            seqs = [e["seq"] for k, e in received if k == order_key]
            assert seqs == sorted(seqs)
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.timeout(60)
async def test_orders_topic_exists_with_configured_partitions(stack: Settings) -> None:
    admin = kafka_admin(stack)
    await admin.start()
    try:
        described = await admin.describe_topics([stack.kafka_orders_topic])
        assert len(described[0]["partitions"]) == stack.kafka_partitions
    finally:
        await admin.close()
