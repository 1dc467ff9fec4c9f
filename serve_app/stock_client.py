"""Every Ray call the ingress makes to the stock shards, in one place.

Purchases are batched per shard: what arrives while a replica's call to a shard is out
leaves together as its next call (serve_app/batcher.py), and the shard group-commits the
whole call to Redis in one round trip.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray.exceptions import ActorDiedError
from ray.serve import metrics

from actors.adapters.redis_deals import open_pool
from actors.adapters.redis_timers import RedisTimers
from actors.domain import timers
from actors.domain.deals import shard_for_user
from actors.domain.ledger import Counts, Outcome
from actors.shard import ReserveRequest, ReserveResult
from actors.stock import shard_handle
from cluster.settings import Settings
from serve_app.backends import Backends
from serve_app.batcher import CallBatcher
from serve_app.catalog import DealRecord

_RETIRE_GRACE_S = 60.0  # past the last deadline, so the deadlines' timers come first


class ShardUnavailable(Exception):
    """A shard did not answer in time, or cannot sell now (fenced, Redis down)."""


class StockRouter:
    def __init__(self, settings: Settings, backends: Backends) -> None:
        self._settings = settings
        self._backends = backends
        self._handles: dict[tuple[str, int], Any] = {}
        self._preheated: set[str] = set()
        # An actor call may wait out a shard restart (Ray retries it); past this, 503.
        self._timeout_s = settings.call_timeout_s * 5

    def handle(self, deal: DealRecord, shard: int) -> Any:
        key = (deal.deal_id, shard)
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = shard_handle(self._settings, deal.info(), shard)
        return found

    def shard_of(self, deal: DealRecord, user_id: str) -> int:
        return shard_for_user(user_id, deal.shards)

    async def preheat(self, deal: DealRecord) -> None:
        """Put the stock in the deal's pool (once, ever) and start every shard."""
        if deal.deal_id in self._preheated:
            return
        await open_pool(self._backends.redis, deal.deal_id, deal.stock)
        await self._call(
            *(self.handle(deal, n).counts.remote() for n in range(deal.shards)), deal=deal
        )
        self._preheated.add(deal.deal_id)

    async def schedule(self, deal: DealRecord) -> None:
        """The deal's durable timers: preheat at its lead time (at once if that has
        passed), retire its shards once its last payment window has closed."""
        lead = self._settings.preheat_lead_s
        last_deadline = deal.ends_ts + self._settings.payment_timeout_s
        await RedisTimers(self._backends.redis).schedule_many(
            {
                timers.preheat(deal.deal_id): deal.starts_ts - lead,
                timers.retire(deal.deal_id): last_deadline + _RETIRE_GRACE_S,
            }
        )

    async def reserve(
        self, deal: DealRecord, shard: int, requests: list[ReserveRequest]
    ) -> list[ReserveResult]:
        handle = self.handle(deal, shard)
        (results,) = await self._call(
            handle.reserve_many.remote(requests, self._settings.payment_timeout_s), deal=deal
        )
        return results  # type: ignore[no-any-return]

    async def pay(self, deal: DealRecord, shard: int, order_id: str, user_id: str) -> Outcome:
        (outcome,) = await self._call(
            self.handle(deal, shard).pay.remote(order_id, user_id), deal=deal
        )
        return outcome  # type: ignore[no-any-return]

    async def cancel(self, deal: DealRecord, shard: int, order_id: str, user_id: str) -> Outcome:
        (outcome,) = await self._call(
            self.handle(deal, shard).cancel.remote(order_id, user_id), deal=deal
        )
        return outcome  # type: ignore[no-any-return]

    async def stats(self, deal: DealRecord) -> list[tuple[Counts, int]]:
        """(counts, cancelled orders) of every shard."""
        await self.preheat(deal)
        return list(
            await self._call(
                *(self.handle(deal, n).stats.remote() for n in range(deal.shards)), deal=deal
            )
        )

    async def _call(self, *refs: Any, deal: DealRecord) -> list[Any]:
        try:
            return list(await asyncio.wait_for(asyncio.gather(*refs), self._timeout_s))
        except ActorDiedError as exc:
            # Ray restarts a crashed shard itself; one that is gone for good (killed by
            # an operator) is made anew from its checkpoint on the next call.
            self._preheated.discard(deal.deal_id)
            for shard in range(deal.shards):
                self._handles.pop((deal.deal_id, shard), None)
            raise ShardUnavailable(f"a shard of {deal.deal_id} is gone: {exc}") from exc
        except Exception as exc:
            raise ShardUnavailable(f"{type(exc).__name__}: {exc}") from exc


class Purchaser:
    """One replica's purchases: one actor call per shard carries every purchase that
    arrived while that shard's previous calls were out (serve_app/batcher.py)."""

    def __init__(self, router: StockRouter, settings: Settings) -> None:
        self._router = router
        self._settings = settings
        self._batchers: dict[tuple[str, int], CallBatcher[ReserveRequest, ReserveResult]] = {}
        # What the batching does under load, on the Ray dashboard's metrics (Serve adds
        # the deployment and replica tags). One observation per actor call, not per buyer.
        self._batch_sizes = metrics.Histogram(
            "flashsale_purchase_batch_size",
            description="Purchases carried by one actor call from a replica to a stock shard.",
            boundaries=[1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
        )

    async def reserve(self, deal: DealRecord, request: ReserveRequest) -> ReserveResult:
        shard = self._router.shard_of(deal, request.user_id)
        key = (deal.deal_id, shard)
        batcher = self._batchers.get(key)
        if batcher is None:
            batcher = self._batchers[key] = CallBatcher(
                lambda requests: self._send(deal, shard, requests),
                max_batch=self._settings.batch_max,
                in_flight=self._settings.batch_concurrency,
            )
        return await batcher.submit(request)

    async def _send(
        self, deal: DealRecord, shard: int, requests: list[ReserveRequest]
    ) -> list[ReserveResult]:
        self._batch_sizes.observe(len(requests))
        return await self._router.reserve(deal, shard, requests)
