"""StockShard: the Ray actor around a ShardService. Detached, named, restarted by Ray.

A restarted shard starts afresh: it takes a new epoch and reloads its checkpoint from
Redis on the first call, and callers' retried calls carry their idempotency keys.
Made by actors/gateway.py (``shard_handle``), which also hands it its siblings.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import ray

from actors.adapters.breakers import REDIS
from actors.adapters.clock import SystemClock, new_order_id
from actors.adapters.redis_checkpoint import RedisCheckpointStore
from actors.domain.deals import Deal
from actors.domain.orders import Counts, Outcome, Reservation, ReserveRequest, ReserveResult
from actors.observability import breaker_summary, export_gauge, watch_breakers
from actors.ports import Siblings
from actors.services.shard import ShardService
from cluster.clients import redis_client
from cluster.gc_tuning import tune_gc
from cluster.settings import Settings


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=10_000)
class StockShard:
    def __init__(self, settings: Settings, deal: Deal, shard: int, siblings: Siblings) -> None:
        self._settings = settings
        self._deal = deal
        self._shard = shard
        self._siblings = siblings
        self._service: ShardService | None = None
        self._starting = asyncio.Lock()
        self._units_gauge: asyncio.Task[None] | None = None
        watch_breakers(settings, "shard", (REDIS,))
        tune_gc()  # a shard answers purchases too: its pauses are theirs

    async def _ready(self) -> ShardService:
        if self._service is None:
            async with self._starting:
                if self._service is None:
                    service = ShardService(
                        self._deal,
                        self._shard,
                        RedisCheckpointStore(
                            redis_client(self._settings, retries=0), self._settings.outbox_max
                        ),
                        self._siblings,
                        SystemClock(),
                        new_order_id,
                        self._settings.payment_timeout_s,
                    )
                    await service.start()
                    self._service = service
                    self._units_gauge = export_gauge(
                        "flashsale_shard_units",
                        "A stock shard's units by state (available, held, sold).",
                        ("deal", "shard", "state"),
                        self._units,
                    )
        return self._service

    async def _units(self) -> dict[tuple[str, ...], float]:
        assert self._service is not None
        counts = self._service.counts()
        deal, shard = self._deal.deal_id, str(self._shard)
        return {
            (deal, shard, "available"): counts.available,
            (deal, shard, "held"): counts.held,
            (deal, shard, "sold"): counts.sold,
        }

    async def reserve_many(
        self, requests: list[ReserveRequest], payment_timeout_s: float | None = None
    ) -> list[ReserveResult]:
        return await (await self._ready()).reserve_many(requests, payment_timeout_s)

    async def pay(self, order_id: str, user_id: str) -> Outcome:
        return await (await self._ready()).pay(order_id, user_id)

    async def cancel(self, order_id: str, user_id: str) -> Outcome:
        return await (await self._ready()).cancel(order_id, user_id)

    async def expire_many(self, order_ids: list[str]) -> list[Outcome]:
        return await (await self._ready()).expire_many(order_ids)

    async def donate(self, at_least: int) -> int:
        return await (await self._ready()).donate(at_least)

    async def order(self, order_id: str) -> Reservation | None:
        return (await self._ready()).order(order_id)

    async def counts(self) -> Counts:
        return (await self._ready()).counts()

    async def stats(self) -> tuple[Counts, int]:
        service = await self._ready()
        return service.counts(), service.cancelled_orders()

    async def info(self) -> dict[str, Any]:
        service = await self._ready()
        return {
            "shard": self._shard,
            "epoch": service.epoch,
            "fenced": service.fenced,
            "pid": os.getpid(),
            "violations": service.violations(),
            "breakers": breaker_summary(),
        }
