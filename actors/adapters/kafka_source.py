"""Order events from Kafka for the sink: batches by ``getmany``, manual offset commits."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer

from actors.adapters.breakers import KAFKA, guarded
from actors.adapters.kafka_client import KafkaClientLifecycle
from actors.domain.events import ORDER_FIELDS, VERSION

logger = logging.getLogger("flashsale.sink")
# What the sink writes from every event (actors/domain/events.py, version 1).
REQUIRED = frozenset(ORDER_FIELDS)


@guarded(KAFKA)
class KafkaEventSource(KafkaClientLifecycle):
    def __init__(self, consumer: AIOKafkaConsumer, timeout_s: float = 30.0) -> None:
        """``consumer``: not started; ``start`` starts it, ``stop`` (idempotent) stops it.
        ``timeout_s`` bounds starting, stopping and committing: a hung broker would
        otherwise hold the sink, and its breaker would never learn."""
        super().__init__(consumer, timeout_s)
        self._consumer = consumer
        self.skipped = 0
        self._next: dict[Any, int] = {}  # partition -> offset after the last record fetched
        self._uncommitted = False  # records fetched since the last commit

    async def fetch(self, max_records: int, wait_ms: int) -> list[dict[str, Any]]:
        batches = await self._consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        events = []
        for partition, records in batches.items():
            if records:
                self._next[partition] = records[-1].offset + 1
                self._uncommitted = True
            for record in records:
                try:
                    event = json.loads(record.value)
                    if (
                        not isinstance(event, dict)
                        or event.get("v") != VERSION
                        or not REQUIRED <= event.keys()
                    ):
                        raise ValueError(f"unknown event version or shape: {event!r:.200}")
                except ValueError:
                    # A malformed event must not stop the pipeline (it would be retried
                    # forever); it is logged and counted.
                    self.skipped += 1
                    logger.error(
                        "skipping event at %s/%s", record.partition, record.offset, exc_info=True
                    )
                    continue
                events.append(event)
        return events

    def lag(self) -> int:
        """Events in Kafka that this consumer has not fetched yet, over the partitions
        it has fetched from (the broker's high watermark of each, as of its last fetch
        response, less the offset after the last record fetched)."""
        waiting = 0
        for partition, after in self._next.items():
            high = self._consumer.highwater(partition)
            if high is not None:
                waiting += max(0, high - after)
        return waiting

    async def commit(self) -> None:
        # Nothing fetched, nothing to commit: an idle sink would otherwise send the
        # broker an offset commit after every empty fetch, five a second.
        if not self._uncommitted:
            return
        async with asyncio.timeout(self._timeout_s):
            await self._consumer.commit()
        self._uncommitted = False
