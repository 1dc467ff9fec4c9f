"""A deal's keys outside its shards' checkpoints: its cached terms, the preheated-deal
index, its pool, its first answers, the order index; and the reads of its shards'
counts that the storefront serves without asking a shard.

The deal is cached as the JSON of ``Deal`` (product nested), so a replica or the clock
finds it without MySQL.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.breakers import REDIS, guarded
from actors.adapters.redis_checkpoint import decode_reservation
from actors.domain.deals import Deal, Product
from actors.domain.orders import Reservation


def encode_deal(deal: Deal) -> str:
    return json.dumps(asdict(deal), separators=(",", ":"))


def decode_deal(raw: bytes | str) -> Deal:
    data: dict[str, Any] = json.loads(raw)
    return Deal(**{**data, "product": Product(**data["product"])})


class FirstAnswers:
    """A deal's first answers as of one moment: (order id, pay_by) by user and key."""

    def __init__(self, raw: dict[bytes, bytes]) -> None:
        self._raw = raw

    def get(self, user_id: str, key: str) -> tuple[str, float] | None:
        found = self._raw.get(keys.answer_field(user_id, key).encode())
        return None if found is None else keys.parse_answer(found)


@guarded(REDIS)
class RedisDeals:
    def __init__(self, client: aioredis.Redis, call_timeout_s: float | None = None) -> None:
        """``call_timeout_s`` bounds each call, retries included (breakers.guarded): the
        storefront's reads fall back to the record when Redis hangs, in time."""
        self._redis = client
        self.call_timeout_s = call_timeout_s

    # -- the deal's terms ----------------------------------------------------------

    async def cache(self, deal: Deal) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.deal(deal.deal_id), encode_deal(deal))
            pipe.zadd(keys.DEALS, {deal.deal_id: deal.ends_ts})
            await pipe.execute()

    async def cached(self, deal_id: str) -> Deal | None:
        raw = await self._redis.get(keys.deal(deal_id))
        return None if raw is None else decode_deal(raw)

    async def cached_many(self, deal_ids: list[str]) -> list[Deal]:
        """The cached ones among ``deal_ids`` (the others are left out)."""
        if not deal_ids:
            return []
        raws = await self._redis.mget([keys.deal(i) for i in deal_ids])
        return [decode_deal(raw) for raw in raws if raw is not None]

    async def not_ended(self, now_ts: float) -> list[str]:
        """Ids of the cached deals that end after ``now_ts``, soonest end first."""
        ids = await self._redis.zrangebyscore(keys.DEALS, now_ts, "+inf")
        return [i.decode() for i in ids]

    # -- its stock outside the shards -----------------------------------------------

    async def open_pool(self, deal: Deal) -> None:
        """Put the deal's stock in its pool (once, ever: a second call changes nothing).
        Its outbox is registered with the relay by each shard as it starts (take_epoch)."""
        await self._redis.set(keys.pool(deal.deal_id), deal.stock, nx=True)

    async def pool(self, deal_id: str) -> int:
        return int(await self._redis.get(keys.pool(deal_id)) or 0)

    async def remaining(self, deals: list[Deal]) -> list[int]:
        """Units still for sale: the pool plus every shard's available, from the
        checkpoints; a deal not preheated yet has all of its stock."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for d in deals:
                pipe.get(keys.pool(d.deal_id))
                for n in range(d.shards):
                    pipe.hget(keys.counts(d.deal_id, n), "available")
            raw = await pipe.execute()
        out, i = [], 0
        for d in deals:
            pool = raw[i]
            shard_values = raw[i + 1 : i + 1 + d.shards]
            i += 1 + d.shards
            out.append(
                d.stock if pool is None else int(pool) + sum(int(v or 0) for v in shard_values)
            )
        return out

    async def held(self, deal: Deal) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for n in range(deal.shards):
                pipe.hget(keys.counts(deal.deal_id, n), "held")
            held = await pipe.execute()
        return sum(int(h or 0) for h in held)

    async def close_outbox(self, deal_id: str) -> None:
        # Done once empty (no shard runs to add to it): the relay stops looking. A shard
        # made anew later registers it again as it starts.
        if not await self._redis.xlen(keys.outbox(deal_id)):
            await self._redis.srem(keys.OUTBOXES, deal_id)

    # -- orders and first answers ---------------------------------------------------

    async def find_order(self, order_id: str) -> tuple[str, int, Reservation] | None:
        """(deal id, shard, reservation) of an order, from its shard's checkpoint."""
        where = await self._redis.hget(keys.ORDER_INDEX, order_id)
        if where is None:
            return None
        deal_id, _, shard = where.decode().rpartition(":")
        raw = await self._redis.hget(keys.reservations(deal_id, int(shard)), order_id)
        if raw is None:
            return None
        return deal_id, int(shard), decode_reservation(raw)

    async def first_answer(self, deal_id: str, user_id: str, key: str) -> tuple[str, float] | None:
        found = await self._redis.hget(keys.answers(deal_id), keys.answer_field(user_id, key))
        return None if found is None else keys.parse_answer(found)

    async def first_answers(self, deal_id: str, at_most: int) -> FirstAnswers | None:
        """All of the deal's first answers, or None when there are more than ``at_most``."""
        name = keys.answers(deal_id)
        if await self._redis.hlen(name) > at_most:
            return None
        return FirstAnswers(await self._redis.hgetall(name))
