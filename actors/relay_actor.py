"""OrderPublisher: the Ray actor that keeps the outbox relay (actors/services/relay.py)
running.

Detached and named, restarted by Ray; its loop starts with the actor (an async actor's
constructor runs on its event loop), so a restart resumes the relay by itself. Kafka
down: the loop backs off and opens a new producer; the outboxes hold the events.

An operator can hold the relay for a while (``hold``): the events wait in the outboxes,
Kafka, the sink and MySQL idle, and the buyers' path has the cores to itself. The hold
ends by itself, so a forgotten one cannot stop the pipeline for good; a restarted
publisher starts unheld.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ray

from actors.adapters.breakers import KAFKA, REDIS
from actors.adapters.kafka_publisher import KafkaEventPublisher
from actors.adapters.redis_outbox import RedisOutbox
from actors.observability import breaker_summary, export_gauge, watch_breakers
from actors.services.relay import OutboxRelay
from actors.supervise import Step, Supervisor
from cluster.clients import kafka_producer, redis_client
from cluster.settings import Settings

# One drain round per 200 ms at most. A round's cost is mostly fixed (measured on 2
# cores: 1.6 ms of CPU for 10 events, 2.1 ms for 150, 3.0 ms for 500: two round trips
# to Redis and a produce request), so at a thousand purchases a second rounds of 50 ms
# cost the relay three times what these do, on the cores that serve the buyers. An
# event waits at most this long for Kafka; the sink's own 200 ms steps follow.
_ROUND_S = 0.2
# Events a deal's take may carry (a round's worth at ~5,000 purchases a second), and a
# take in all (~1.5 MB: a backlog after a Kafka outage goes out in such steps).
_DEAL_TAKE = 1000
_TAKE = 5000
# One record batch per partition a round: aiokafka's default (16 KB, ~50 events) split a
# burst's round into several produce requests; this stays under the broker's 1 MB.
_BATCH_BYTES = 512 * 1024
_MAX_BACKOFF_S = 5.0
# Room for a flash sale's burst, never so long that MySQL falls far behind the shards.
MAX_HOLD_S = 600.0


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class OrderPublisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        watch_breakers(settings, "publisher", (REDIS, KAFKA))
        self._outbox = RedisOutbox(redis_client(settings))
        self._sent = 0
        self._held_until = 0.0  # time.monotonic(); no drain round before it
        self._supervisor = Supervisor("publisher", _ROUND_S, _MAX_BACKOFF_S)
        self._shown: set[str] = set()  # deals whose outbox depth the last read exported
        self._gauges = [
            export_gauge(
                "flashsale_outbox_depth",
                "Order events in a deal's outbox, not yet acknowledged by Kafka.",
                ("deal",),
                self._depths,
            ),
            export_gauge(
                "flashsale_relay_lag_s",
                "Age of the oldest order event still waiting in any outbox (0: caught up).",
                (),
                self._lag,
            ),
        ]
        self._task = asyncio.get_running_loop().create_task(
            self._supervisor.run(self._session, keep_session=False)
        )

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Step]:
        # No linger: a round hands over all it has at once, nothing more is coming.
        producer = kafka_producer(self._settings, linger_ms=0, max_batch_size=_BATCH_BYTES)
        topic = self._settings.kafka_orders_topic
        timeout_s = self._settings.call_timeout_s * 2.5
        async with KafkaEventPublisher(producer, topic, timeout_s) as kafka:
            relay = OutboxRelay(
                self._outbox,
                kafka,
                batch=_DEAL_TAKE,
                take=_TAKE,
                sweep_every=round(30 / _ROUND_S),
            )

            async def drain() -> bool:
                if time.monotonic() >= self._held_until:
                    self._sent += await relay.drain_once()
                return False  # one round per _ROUND_S, however much it carried

            yield drain

    async def _depths(self) -> dict[tuple[str, ...], float]:
        """Deals with events waiting, and those that had some at the last read (they
        drop to 0 once, then their series ends): every deal ever sold would otherwise
        be a series for good."""
        waiting = {deal: depth for deal, (depth, _) in (await self._outbox.backlog()).items()}
        shown = {deal for deal, depth in waiting.items() if depth} | self._shown
        self._shown = {deal for deal, depth in waiting.items() if depth}
        return {(deal,): waiting.get(deal, 0) for deal in shown}

    async def _lag(self) -> dict[tuple[str, ...], float]:
        oldest = [t for _, t in (await self._outbox.backlog()).values() if t is not None]
        return {(): max(0.0, time.time() - min(oldest)) if oldest else 0.0}

    async def hold(self, seconds: float) -> float:
        """Hold the relay for ``seconds`` from now (0 releases it at once); returns the
        seconds held. Outboxes fill meanwhile, and a deal's purchases get 503 once its
        outbox reaches FLASHSALE_OUTBOX_MAX."""
        if not 0 <= seconds <= MAX_HOLD_S:
            raise ValueError(f"a hold lasts 0 to {MAX_HOLD_S:.0f} seconds, not {seconds}")
        self._held_until = time.monotonic() + seconds
        return seconds

    async def stats(self) -> dict[str, Any]:
        return {"sent": self._sent, **self._supervisor.stats(), "breakers": breaker_summary()}
