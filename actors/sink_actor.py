"""OrderSink: the Ray actor that keeps the Kafka -> MySQL loop (actors/services/sink.py)
running.

Detached and named, restarted by Ray; the loop starts with the actor. MySQL away: the
step fails and is retried in the same session, its batch kept and its offsets not
committed; Kafka away at start: the session is opened afresh. It catches up when they
return.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ray
from ray.util import metrics

from actors.adapters.breakers import KAFKA, MYSQL
from actors.adapters.kafka_source import KafkaEventSource
from actors.adapters.mysql_store import MysqlOrderStore
from actors.observability import breaker_summary, export_gauge, watch_breakers
from actors.services.sink import OrderSinkLoop
from actors.supervise import Step, Supervisor
from cluster.clients import kafka_consumer, mysql_pool
from cluster.settings import Settings

GROUP_ID = "flashsale-order-sink"
_MAX_BACKOFF_S = 5.0
_MAX_RECORDS = 1000
# A step that did not fill a batch waits out the rest of 200 ms: events gather in the
# consumer's buffer meanwhile, so MySQL sees ~5 transactions (and Kafka ~5 offset
# commits) a second under a burst, not one per handful of events. A step's cost is
# mostly fixed (measured on 2 cores: ~2 ms of CPU for 10 events, ~4.7 ms for 150: a
# fetch, the statement, the commit, the offsets), so steps of 100 ms cost the sink a
# third more at a thousand purchases a second. A row trails its event by at most this
# much more.
_STEP_S = 0.2
_FETCH_MIN_BYTES = 128 * 1024
_FETCH_MAX_WAIT_MS = 200
# When an order last changed, for the lag: its creation, payment or cancellation.
_CHANGE_FIELDS = ("created_at", "paid_at", "cancelled_at")


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class OrderSink:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        watch_breakers(settings, "sink", (KAFKA, MYSQL))
        self._written = 0
        # The fault drills' hook: hold a written batch of one deal before its offsets
        # commit. Only that deal's: other drills' late events (deadline cancels) must
        # not be the batch that sits in the gate.
        self._release = asyncio.Event()
        self._release.set()
        self._hold_deal: str | None = None
        self._held = 0
        self._source: KafkaEventSource | None = None
        # Events that can never be written, for good: of the wrong shape (the source
        # skips them) or rows MySQL refused as data (the store hands them back). Each
        # is logged as it happens; these count them for an operator's alert.
        self._unwritable = {"shape": 0, "refused": 0}
        self._unwritable_metric = metrics.Counter(
            "flashsale_sink_unwritable_events",
            description="Order events the sink could never write, by reason (shape, refused).",
            tag_keys=("reason",),
        )
        self._behind_s = 0.0  # the last written batch's oldest change, seconds before it
        self._gauges = [
            export_gauge(
                "flashsale_sink_lag_events",
                "Order events in Kafka the sink has not fetched yet.",
                (),
                self._lag_events,
            ),
            export_gauge(
                "flashsale_sink_lag_s",
                "Seconds from an order's last change to its row in MySQL, for the oldest"
                " event of the last batch written (0 when caught up).",
                (),
                self._lag_s,
            ),
        ]
        self._supervisor = Supervisor("sink", _STEP_S, _MAX_BACKOFF_S)
        self._task = asyncio.get_running_loop().create_task(
            self._supervisor.run(self._session, keep_session=True)
        )

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Step]:
        consumer = kafka_consumer(
            self._settings,
            self._settings.kafka_orders_topic,
            group_id=GROUP_ID,
            # The broker answers a fetch once it has this much (~400 events) or the
            # wait is up: under a burst one fetch per step's worth of events, not one
            # per relay round; idle, five a second. A row trails its order by at most
            # the wait more.
            fetch_min_bytes=_FETCH_MIN_BYTES,
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
        )
        async with (
            KafkaEventSource(consumer, self._settings.call_timeout_s * 10) as source,
            MysqlOrderStore(
                lambda: mysql_pool(self._settings), timeout_s=self._settings.call_timeout_s * 2.5
            ) as store,
        ):
            self._source = source
            loop = OrderSinkLoop(
                source, store, max_records=_MAX_RECORDS, between_commits=self._written_batch
            )

            async def step() -> bool:
                before = {"shape": source.skipped, "refused": loop.refused}
                try:
                    written = await loop.step()
                finally:
                    now = {"shape": source.skipped, "refused": loop.refused}
                    for reason, count in now.items():
                        if count > before[reason]:
                            self._unwritable[reason] += count - before[reason]
                            self._unwritable_metric.inc(
                                count - before[reason], tags={"reason": reason}
                            )
                self._written += written
                if not loop.settled:
                    self._behind_s = 0.0
                return loop.settled >= _MAX_RECORDS  # a full batch: more is waiting

            yield step

    async def _written_batch(self, batch: list[dict[str, Any]]) -> None:
        """MySQL has the batch (its offsets are not committed yet): note how far behind
        the orders it is, then the drills' gate."""
        changed = min(max(e[f] or 0.0 for f in _CHANGE_FIELDS) for e in batch)
        self._behind_s = max(0.0, time.time() - changed)
        if self._release.is_set() or not any(e["deal_id"] == self._hold_deal for e in batch):
            return
        self._held += 1
        await self._release.wait()

    async def hold_offsets(self, deal_id: str | None) -> None:
        """For fault drills: hold every written batch that carries an event of
        ``deal_id`` before its offset commit, so that a kill lands between the two;
        None lets them go."""
        self._hold_deal = deal_id
        if deal_id is None:
            self._release.set()
        else:
            self._release.clear()

    async def _lag_events(self) -> dict[tuple[str, ...], float]:
        return {(): self._source.lag() if self._source is not None else 0}

    async def _lag_s(self) -> dict[tuple[str, ...], float]:
        return {(): self._behind_s}

    async def stats(self) -> dict[str, Any]:
        return {
            "held_batches": self._held,
            "written": self._written,
            "unwritable": dict(self._unwritable),
            **self._supervisor.stats(),
            "breakers": breaker_summary(),
        }
