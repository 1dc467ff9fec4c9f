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


def _keyed(records: list[Any], events: list[Any]) -> bool:
    """Each event is an object whose order id is its record's key."""
    for record, event in zip(records, events, strict=True):
        order_id = event.get("order_id") if type(event) is dict else None
        if not isinstance(order_id, str) or order_id.encode() != record.key:
            return False
    return True


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
            if not records:
                continue
            self._next[partition] = records[-1].offset + 1
            self._uncommitted = True
            decoded = self._decode(records)
            for record, event in zip(records, decoded, strict=True):
                if (
                    isinstance(event, dict)
                    and event.get("v") == VERSION
                    and REQUIRED <= event.keys()
                ):
                    events.append(event)
                    continue
                # A malformed event must not stop the pipeline (it would be retried
                # forever); it is logged and counted.
                self.skipped += 1
                logger.error(
                    "skipping event at %s/%s: unknown version or shape: %r",
                    record.partition,
                    record.offset,
                    record.value[:200] if record.value is not None else None,
                )
        return events

    @staticmethod
    def _decode(records: list[Any]) -> list[Any]:
        """Each record's JSON, None where there is none. A partition's records are parsed
        in one call, as a JSON array: json.loads' own per-call work cost more than the
        ~300 bytes each record holds. That parse is kept only if each element is the
        event its record's key names (a record whose value is not one whole JSON value
        could otherwise shift or swallow its neighbours); else one record at a time."""
        try:
            joined = json.loads(b"[" + b",\n".join(r.value for r in records) + b"]")
        except (TypeError, ValueError):
            joined = None
        if joined is not None and len(joined) == len(records) and _keyed(records, joined):
            return joined
        one_by_one = []
        for record in records:
            try:
                one_by_one.append(json.loads(record.value))
            except (TypeError, ValueError):
                one_by_one.append(None)  # refused below as not an event
        return one_by_one

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
