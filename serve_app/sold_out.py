"""A replica's memory of sold-out deals, so their purchases never reach an actor.

When a shard reports a deal dry (its pool and every sibling empty), every order that
took its units is already in Redis: the siblings answered the refill only after their
own pending writes. So the replica snapshots the deal's first answers then, and a
repeated Idempotency-Key still gets its order without a Redis call per request. The
flag lasts ``ttl_s``: stock that a cancel returns is on sale again after at most that.
An order made elsewhere within that window (after a cancel) is not in the snapshot;
its buyer's retry may be told sold out until the flag expires.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys

# Past this many orders the snapshot is not taken; repeats then ask Redis each time.
MAX_SNAPSHOT = 50_000


class SoldOutBoard:
    def __init__(self, redis: aioredis.Redis, ttl_s: float = 1.0) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._until: dict[str, float] = {}
        self._answers: dict[str, dict[bytes, bytes] | None] = {}
        self._loading: dict[str, asyncio.Task[None]] = {}

    def is_sold_out(self, deal_id: str) -> bool:
        return self._until.get(deal_id, 0.0) > time.monotonic()

    async def mark(self, deal_id: str) -> None:
        """The deal is dry: flag it once its first answers are in memory."""
        task = self._loading.get(deal_id)
        if task is None or task.done():
            task = self._loading[deal_id] = asyncio.create_task(self._snapshot(deal_id))
        await asyncio.shield(task)

    async def first_answer(self, deal_id: str, user_id: str, key: str) -> bytes | None:
        field = keys.answer_field(user_id, key)
        answers = self._answers.get(deal_id)
        if answers is not None:
            return answers.get(field.encode())
        found: bytes | None = await self._redis.hget(keys.answers(deal_id), field)
        return found

    async def _snapshot(self, deal_id: str) -> None:
        name = keys.answers(deal_id)
        size = await self._redis.hlen(name)
        self._answers[deal_id] = await self._redis.hgetall(name) if size <= MAX_SNAPSHOT else None
        self._until[deal_id] = time.monotonic() + self._ttl_s
