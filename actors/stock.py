"""StockShard: the Ray actor around a ShardService. Detached, named, restarted by Ray.

A restarted shard starts afresh: it takes a new epoch and reloads its checkpoint from
Redis on the first call, and callers' retried calls carry their idempotency keys.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import ray

from actors.adapters.redis_checkpoint import RedisCheckpointStore
from actors.domain.ids import ulid
from actors.domain.ledger import Counts, Outcome, Reservation
from actors.shard import DealInfo, ReserveRequest, ReserveResult, ShardService
from cluster import names
from cluster.clients import redis_client
from cluster.gc_tuning import tune_gc
from cluster.settings import Settings


class SystemClock:
    def now(self) -> float:
        return time.time()


def new_order_id() -> str:
    return ulid(time.time_ns() // 1_000_000, os.urandom(10))


class _RaySiblings:
    """Sibling shards by name, for refills."""

    def __init__(self, deal_id: str, namespace: str) -> None:
        self._deal_id = deal_id
        self._namespace = namespace

    async def donate(self, shard: int, at_least: int) -> int:
        handle = ray.get_actor(names.stock_shard(self._deal_id, shard), namespace=self._namespace)
        units: int = await handle.donate.remote(at_least)
        return units


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=10_000)
class StockShard:
    def __init__(self, settings: Settings, deal: DealInfo, shard: int, namespace: str) -> None:
        self._namespace = namespace  # the one the shard and its siblings are named in
        self._settings = settings
        self._deal = deal
        self._shard = shard
        self._service: ShardService | None = None
        self._starting = asyncio.Lock()
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
                        _RaySiblings(self._deal.deal_id, self._namespace),
                        SystemClock(),
                        new_order_id,
                        self._settings.payment_timeout_s,
                    )
                    await service.start()
                    self._service = service
        return self._service

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
        }


def shard_handle(
    settings: Settings, deal: DealInfo, shard: int, *, namespace: str = names.NAMESPACE
) -> Any:
    """The shard's actor, created (detached) if it does not exist yet."""
    return StockShard.options(
        name=names.stock_shard(deal.deal_id, shard),
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
    ).remote(settings, deal, shard, namespace)
