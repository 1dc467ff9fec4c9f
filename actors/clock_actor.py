"""DealClock: the Ray actor that runs the timers (actors/clock.py) against the shards.

Detached and named, restarted by Ray; the loop starts with the actor. The timers live
in Redis, so neither a restart of this actor nor of the whole Ray instance loses one:
whichever DealClock runs next fires what is due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import ray
import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.redis_deals import cached_deal, open_pool
from actors.adapters.redis_timers import RedisTimers
from actors.clock import ClockLoop
from actors.domain.ledger import Outcome
from actors.handles import singleton
from actors.shard import DealInfo
from actors.stock import shard_handle
from cluster import names
from cluster.clients import redis_client
from cluster.settings import Settings

logger = logging.getLogger("flashsale.clock")
_IDLE_S = 0.1
_MAX_BACKOFF_S = 5.0


class RayClockActions:
    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        self._settings = settings
        self._redis = redis
        self._timeout_s = settings.call_timeout_s * 5  # may wait out a shard's restart
        self._deals: dict[str, dict[str, Any]] = {}  # deals never change once made
        self._handles: dict[tuple[str, int], Any] = {}

    async def _deal(self, deal_id: str) -> dict[str, Any]:
        found = self._deals.get(deal_id)
        if found is None:
            found = await cached_deal(self._redis, deal_id)
            if found is None:
                raise LookupError(f"deal {deal_id} is not cached in Redis")
            self._deals[deal_id] = found
        return found

    def _shard(self, deal: dict[str, Any], shard: int) -> Any:
        key = (deal["deal_id"], shard)
        handle = self._handles.get(key)
        if handle is None:
            info = DealInfo(
                deal["deal_id"],
                deal["stock"],
                deal["per_user_limit"],
                deal["price_cents"],
                deal["shards"],
            )
            handle = self._handles[key] = shard_handle(self._settings, info, shard)
        return handle

    async def _call(self, deal: dict[str, Any], refs: list[Any]) -> list[Any]:
        try:
            return list(await asyncio.wait_for(asyncio.gather(*refs), self._timeout_s))
        except Exception:
            # A shard retired or killed for good is made anew from its checkpoint next time.
            for n in range(deal["shards"]):
                self._handles.pop((deal["deal_id"], n), None)
            raise

    async def preheat(self, deal_id: str) -> None:
        deal = await self._deal(deal_id)
        await open_pool(self._redis, deal_id, deal["stock"])
        await self._call(
            deal, [self._shard(deal, n).counts.remote() for n in range(deal["shards"])]
        )

    async def expire_many(self, deal_id: str, shard: int, order_ids: list[str]) -> list[Outcome]:
        deal = await self._deal(deal_id)
        (outcomes,) = await self._call(
            deal, [self._shard(deal, shard).expire_many.remote(order_ids)]
        )
        return outcomes  # type: ignore[no-any-return]

    async def retire(self, deal_id: str) -> bool:
        deal = await self._deal(deal_id)
        if time.time() < deal["ends_ts"]:
            return False
        async with self._redis.pipeline(transaction=False) as pipe:
            for n in range(deal["shards"]):
                pipe.hget(keys.counts(deal_id, n), "held")
            held = await pipe.execute()
        if any(int(h or 0) for h in held):
            return False  # unpaid orders left: their deadlines need the shards
        for n in range(deal["shards"]):
            self._handles.pop((deal_id, n), None)
            try:
                ray.kill(ray.get_actor(names.stock_shard(deal_id, n), namespace=names.NAMESPACE))
            except ValueError:
                pass  # not running
        # Its outbox is done too once empty (no shard runs to add to it): the relay
        # stops looking. A shard made anew later registers it again as it starts.
        if not await self._redis.xlen(keys.outbox(deal_id)):
            await self._redis.srem(keys.OUTBOXES, deal_id)
        logger.info("retired the shards of deal %s", deal_id)
        return True


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class DealClock:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop: ClockLoop | None = None
        self._last_error = ""
        self._last_tick = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        redis = redis_client(self._settings)
        self._loop = ClockLoop(RedisTimers(redis), RayClockActions(self._settings, redis))
        backoff = _IDLE_S
        while True:
            try:
                fired = await self._loop.tick(time.time())
                self._last_tick = time.time()
                backoff = _IDLE_S
                if not fired:
                    await asyncio.sleep(_IDLE_S)
            except Exception as exc:  # noqa: BLE001 -- Redis away: back off, retry
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("clock tick failed (%s); again in %.2fs", self._last_error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def stats(self) -> dict[str, Any]:
        return {
            "fired": self._loop.fired if self._loop else 0,
            "last_error": self._last_error,
            "last_tick": self._last_tick,
        }


def clock_handle(settings: Settings) -> Any:
    return singleton(DealClock, names.DEAL_CLOCK, settings)
