"""OrderPublisher: the Ray actor that keeps the outbox relay running.

Detached and named, restarted by Ray; its drain loop starts with the actor (an async
actor's constructor runs on its event loop), so a restart resumes the relay by itself.
Kafka down: the loop backs off and retries; the outboxes hold the events meanwhile.

An operator can hold the relay for a while (``hold``): the events wait in the outboxes,
Kafka, the sink and MySQL idle, and the buyers' path has the cores to itself. The hold
ends by itself, so a forgotten one cannot stop the pipeline for good; a restarted
publisher starts unheld.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import ray

from actors.adapters.kafka_publisher import KafkaEventPublisher
from actors.adapters.redis_outbox import RedisOutbox
from actors.handles import singleton
from actors.relay import OutboxRelay
from cluster import names
from cluster.clients import kafka_producer, redis_client
from cluster.settings import Settings

logger = logging.getLogger("flashsale.publisher")
# One drain round per 50 ms at most: at a few thousand purchases a second a round then
# carries ~100 events in one record batch per partition, instead of a round (and a
# produce request, and a sink fetch and MySQL commit downstream) for every few events,
# all on the cores that serve the buyers. An event waits at most this long for Kafka.
_ROUND_S = 0.05
_MAX_BACKOFF_S = 5.0
# Room for a flash sale's burst, never so long that MySQL falls far behind the shards.
MAX_HOLD_S = 600.0


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class OrderPublisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sent = 0
        self._last_error = ""
        self._last_drain = 0.0
        self._held_until = 0.0  # time.monotonic(); no drain round before it
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        redis = redis_client(self._settings)
        outbox = RedisOutbox(redis)
        backoff = _ROUND_S
        while True:
            producer = kafka_producer(self._settings)
            try:
                await producer.start()
                relay = OutboxRelay(
                    outbox, KafkaEventPublisher(producer, self._settings.kafka_orders_topic)
                )
                while True:
                    started = time.monotonic()
                    if started >= self._held_until:
                        self._sent += await relay.drain_once()
                        self._last_drain = time.time()
                    backoff = _ROUND_S
                    await asyncio.sleep(max(0.0, _ROUND_S - (time.monotonic() - started)))
            except Exception as exc:  # noqa: BLE001 -- Kafka or Redis away: back off, retry
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("relay stopped (%s); retrying in %.2fs", self._last_error, backoff)
            finally:
                with contextlib.suppress(Exception):
                    await producer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def hold(self, seconds: float) -> float:
        """Hold the relay for ``seconds`` from now (0 releases it at once); returns the
        seconds held. Outboxes fill meanwhile, and a deal's purchases get 503 once its
        outbox reaches FLASHSALE_OUTBOX_MAX."""
        if not 0 <= seconds <= MAX_HOLD_S:
            raise ValueError(f"a hold lasts 0 to {MAX_HOLD_S:.0f} seconds, not {seconds}")
        self._held_until = time.monotonic() + seconds
        return seconds

    async def stats(self) -> dict[str, Any]:
        return {"sent": self._sent, "last_error": self._last_error, "last_drain": self._last_drain}


def publisher_handle(settings: Settings) -> Any:
    return singleton(OrderPublisher, names.ORDER_PUBLISHER, settings)
