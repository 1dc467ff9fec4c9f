"""DealClock: the Ray actor that runs the timers (actors/services/timer_loop.py) against
the shards, through the gateway and the deal lifecycle.

Detached and named, restarted by Ray; the loop starts with the actor. The timers live
in Redis, so neither a restart of this actor nor of the whole Ray instance loses one:
whichever DealClock runs next fires what is due.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import ray
from ray.util import metrics

from actors.adapters.breakers import REDIS
from actors.adapters.clock import SystemClock
from actors.adapters.redis_deals import RedisDeals
from actors.adapters.redis_timers import RedisTimers
from actors.gateway import ShardGateway
from actors.observability import breaker_summary, export_gauge, watch_breakers
from actors.services.deal_lifecycle import DealLifecycle, TimerActions
from actors.services.timer_loop import TimerLoop
from actors.supervise import Step, Supervisor
from cluster.clients import redis_client
from cluster.settings import Settings

_IDLE_S = 0.1
_MAX_BACKOFF_S = 5.0


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class DealClock:
    def __init__(self, settings: Settings) -> None:
        watch_breakers(settings, "clock", (REDIS,))
        redis = redis_client(settings)
        deals, shards, timers = RedisDeals(redis), ShardGateway(settings), RedisTimers(redis)
        lifecycle = DealLifecycle(
            deals,
            shards,
            timers,
            SystemClock(),
            preheat_lead_s=settings.preheat_lead_s,
            payment_timeout_s=settings.payment_timeout_s,
        )
        lateness = metrics.Histogram(
            "flashsale_timer_lateness_s",
            description="Seconds after its time that each due timer was found by the clock.",
            boundaries=[0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
        )
        self._loop = TimerLoop(
            timers, TimerActions(lifecycle, deals, shards), lateness=lateness.observe
        )

        async def pending() -> dict[tuple[str, ...], float]:
            return {(): await timers.pending()}

        self._gauges = [
            export_gauge(
                "flashsale_timers_pending",
                "Timers waiting in Redis: unpaid orders' deadlines, preheats, retirements.",
                (),
                pending,
            )
        ]
        self._supervisor = Supervisor("clock", _IDLE_S, _MAX_BACKOFF_S)
        self._task = asyncio.get_running_loop().create_task(
            self._supervisor.run(self._session, keep_session=True)
        )

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Step]:
        async def tick() -> bool:
            return await self._loop.tick(time.time()) > 0  # fired some: look again at once

        yield tick

    async def stats(self) -> dict[str, Any]:
        return {
            "fired": self._loop.fired,
            **self._supervisor.stats(),
            "breakers": breaker_summary(),
        }
