"""Order events to Kafka: idempotent producer, acks=all, key = order id."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from actors.ports import OutboxEntry


class KafkaEventPublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(self, entries: list[OutboxEntry]) -> None:
        # send() queues in order; the futures resolve once the broker acknowledged.
        acks = [
            await self._producer.send(self._topic, e.payload, key=e.order_id.encode())
            for e in entries
        ]
        await asyncio.gather(*acks)
