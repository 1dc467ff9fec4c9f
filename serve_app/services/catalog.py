"""Products and deals: MySQL is the record; Redis and replica memory serve the reads.

A deal is cached in Redis when it is created (and again whenever it is read back from
MySQL), so the storefront's deal pages and the purchase path never query MySQL for a
deal that is cached; ``remaining`` comes from the shards' checkpoints in Redis.
"""

from __future__ import annotations

import time
import uuid

from actors.adapters.breakers import is_outage
from actors.adapters.mysql_catalog import MysqlCatalog
from actors.adapters.redis_deals import RedisDeals
from actors.domain.deals import Deal, Product, problems
from actors.domain.orders import Counts
from actors.ports import DependencyDown, Shards, ShardUnavailable
from actors.services.deal_lifecycle import DealLifecycle
from serve_app.services.outcomes import Failure, Problem

_NEGATIVE_TTL_S = 1.0


class Catalog:
    def __init__(
        self,
        records: MysqlCatalog,
        cache: RedisDeals,
        lifecycle: DealLifecycle,
        shards: Shards,
        *,
        shards_per_deal: int,
        preheat_lead_s: float,
    ) -> None:
        self._records = records
        self._cache = cache
        self._lifecycle = lifecycle
        self._shards = shards
        self._shards_per_deal = shards_per_deal
        self._preheat_lead_s = preheat_lead_s
        self._deals: dict[str, Deal] = {}  # deals never change once made
        self._missing: dict[str, float] = {}
        self._remaining_seen: dict[str, int] = {}  # the last figures Redis gave

    # -- admin: products and deals ---------------------------------------------------

    async def create_product(self, name: str, description: str, image_url: str) -> Product:
        product = Product(str(uuid.uuid4()), name, description, image_url)
        await self._records.insert_product(product)
        return product

    async def create_deal(
        self,
        product_id: str,
        price_cents: int,
        stock: int,
        per_user_limit: int,
        starts_ts: float,
        ends_ts: float,
        shards: int | None,
    ) -> Deal | Failure:
        """Record the deal, cache it, schedule its timers, and preheat it at once when
        it starts within the lead time."""
        terms = Deal(
            deal_id=str(uuid.uuid4()),
            product=Product(product_id, "", "", ""),
            price_cents=price_cents,
            stock=stock,
            per_user_limit=per_user_limit,
            starts_ts=starts_ts,
            ends_ts=ends_ts,
            shards=shards or self._shards_per_deal,
        )
        found = problems(terms)
        if found:
            return Failure(Problem.INVALID_DEAL, "; ".join(found))
        product = await self._records.product(product_id)
        if product is None:
            return Failure(Problem.UNKNOWN_PRODUCT, product_id)
        deal = Deal(
            terms.deal_id,
            product,
            terms.price_cents,
            terms.stock,
            terms.per_user_limit,
            terms.starts_ts,
            terms.ends_ts,
            terms.shards,
        )
        await self._records.insert_deal(deal)
        await self._remember(deal)
        await self._lifecycle.schedule(deal)  # the DealClock preheats it on time from here on
        if deal.starts_ts - time.time() <= self._preheat_lead_s:
            try:
                await self._lifecycle.preheat(deal)
            except ShardUnavailable:
                pass  # the deal stands; the DealClock (or the first purchase) preheats it
        return deal

    async def stats(self, deal: Deal) -> tuple[int, list[tuple[Counts, int]]] | Failure:
        """(the pool, (counts, cancelled orders) of every shard)."""
        try:
            await self._lifecycle.preheat(deal)
            shards = await self._shards.stats(deal)
        except ShardUnavailable as exc:
            return Failure(
                Problem.UNAVAILABLE, "a shard did not answer", max(1.0, exc.retry_after_s)
            )
        return await self._cache.pool(deal.deal_id), shards

    # -- reads -------------------------------------------------------------------------

    async def deal(self, deal_id: str) -> Deal | None:
        found = self._deals.get(deal_id)
        if found is not None:
            return found
        if self._missing.get(deal_id, 0) > time.monotonic():
            return None
        found = await self._cache.cached(deal_id)
        if found is not None:
            self._deals[deal_id] = found
            return found
        found = await self._records.deal(deal_id)
        if found is None:
            self._missing[deal_id] = time.monotonic() + _NEGATIVE_TTL_S
            return None
        await self._remember(found)
        return found

    async def live_deals(self, now_ts: float) -> list[Deal]:
        """Deals that have not ended, from the Redis cache; while Redis is away, from
        the record (MySQL), and while both are, from this replica's memory."""
        try:
            wanted = await self._cache.not_ended(now_ts)
            unknown = [i for i in wanted if i not in self._deals]
            for deal in await self._cache.cached_many(unknown):
                self._deals[deal.deal_id] = deal
        except Exception as exc:
            if not _away(exc):
                raise
            return await self._live_without_redis(now_ts)
        return [self._deals[i] for i in wanted if i in self._deals]

    async def remaining(self, deals: list[Deal]) -> list[int]:
        """Units still for sale; while Redis is away, the last figures it gave (or the
        whole stock of a deal never read): a page's view, never a purchase's."""
        try:
            found = await self._cache.remaining(deals)
        except Exception as exc:
            if not _away(exc):
                raise
            return [self._remaining_seen.get(d.deal_id, d.stock) for d in deals]
        self._remaining_seen.update((d.deal_id, n) for d, n in zip(deals, found, strict=True))
        return found

    async def _live_without_redis(self, now_ts: float) -> list[Deal]:
        try:
            deals = await self._records.deals_not_ended(now_ts)
        except Exception as exc:
            if not _away(exc):
                raise
            deals = sorted(
                (d for d in self._deals.values() if d.ends_ts > now_ts), key=lambda d: d.ends_ts
            )
        for deal in deals:
            self._deals.setdefault(deal.deal_id, deal)
        return deals

    async def _remember(self, deal: Deal) -> None:
        await self._cache.cache(deal)
        self._deals[deal.deal_id] = deal
        self._missing.pop(deal.deal_id, None)


def _away(exc: Exception) -> bool:
    return isinstance(exc, DependencyDown) or is_outage(exc)
