"""OrderSink: the Ray actor that keeps the Kafka -> MySQL loop running.

Detached and named, restarted by Ray; the loop starts with the actor. MySQL or Kafka
away: the loop backs off and retries without committing offsets, and catches up when
they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import ray

from actors.adapters.kafka_source import KafkaEventSource
from actors.adapters.mysql_store import MysqlOrderStore
from actors.handles import singleton
from actors.sink import OrderSinkLoop
from cluster import names
from cluster.clients import kafka_consumer, mysql_pool
from cluster.settings import Settings

logger = logging.getLogger("flashsale.sink")
GROUP_ID = "flashsale-order-sink"
_MAX_BACKOFF_S = 5.0
_MAX_RECORDS = 500
# A step that did not fill a batch waits out the rest of 100 ms: events gather in the
# consumer's buffer meanwhile, so MySQL sees ~10 transactions (and Kafka ~10 offset
# commits) a second under a burst, not one per handful of events. A row trails its
# event by at most this much more.
_STEP_S = 0.1


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class OrderSink:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._written = 0
        self._last_error = ""
        self._last_step = 0.0
        # The fault drills' hook: hold each written batch before its offsets commit.
        self._release = asyncio.Event()
        self._release.set()
        self._held = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            consumer = kafka_consumer(
                self._settings, self._settings.kafka_orders_topic, group_id=GROUP_ID
            )
            pool = None
            try:
                await consumer.start()
                pool = await mysql_pool(self._settings)
                loop = OrderSinkLoop(
                    KafkaEventSource(consumer),
                    MysqlOrderStore(pool),
                    max_records=_MAX_RECORDS,
                    between_commits=self._gate,
                )
                while True:
                    try:
                        started = time.monotonic()
                        written = await loop.step()
                        self._written += written
                        self._last_step = time.time()
                        backoff = 0.05
                        if written < _MAX_RECORDS:
                            await asyncio.sleep(max(0.0, _STEP_S - (time.monotonic() - started)))
                    except Exception as exc:  # noqa: BLE001 -- MySQL away: keep the batch, retry
                        self._last_error = f"{type(exc).__name__}: {exc}"
                        logger.warning(
                            "sink step failed (%s); retrying in %.2fs", self._last_error, backoff
                        )
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, _MAX_BACKOFF_S)
            except Exception as exc:  # noqa: BLE001 -- Kafka away at start: start afresh
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("sink stopped (%s); restarting in %.2fs", self._last_error, backoff)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                if pool is not None:
                    pool.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _gate(self) -> None:
        if not self._release.is_set():
            self._held += 1
            await self._release.wait()

    async def hold_offsets(self, hold: bool) -> None:
        """For fault drills: hold (True) every written batch before its offset commit,
        so that a kill lands between the two; False lets them go."""
        if hold:
            self._release.clear()
        else:
            self._release.set()

    async def stats(self) -> dict[str, Any]:
        return {
            "held_batches": self._held,
            "written": self._written,
            "last_error": self._last_error,
            "last_step": self._last_step,
        }


def sink_handle(settings: Settings) -> Any:
    return singleton(OrderSink, names.ORDER_SINK, settings)
