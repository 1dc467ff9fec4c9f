"""The DealClock's timers in Redis: one sorted set, member = timer, score = when."""

from __future__ import annotations

import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.breakers import REDIS, guarded
from actors.domain.timers import Kind, Timer


@guarded(REDIS)
class RedisTimers:
    def __init__(self, client: aioredis.Redis, key: str = keys.TIMERS) -> None:
        self._redis = client
        self._key = key

    async def schedule(self, timer: Timer, at: float) -> None:
        await self.schedule_many({timer: at})

    async def schedule_many(self, when: dict[Timer, float]) -> None:
        await self._redis.zadd(self._key, {t.encode(): at for t, at in when.items()})

    async def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        rows = await self._redis.zrangebyscore(
            self._key, "-inf", now, start=0, num=limit, withscores=True
        )
        return [(member.decode(), float(score)) for member, score in rows]

    async def pending(self) -> int:
        """Timers waiting: deadlines of unpaid orders, preheats and retirements."""
        return int(await self._redis.zcard(self._key))

    async def done(self, member: str) -> None:
        await self._redis.zrem(self._key, member)

    async def done_many(self, members: list[str]) -> None:
        if members:
            await self._redis.zrem(self._key, *members)

    async def postpone(self, member: str, at: float) -> None:
        """Move a timer that still exists; one removed meanwhile (its order was paid,
        say) stays removed."""
        await self._redis.zadd(self._key, {member: at}, xx=True)

    async def pending_deadlines(self) -> dict[str, set[str]]:
        """Order ids with a pending payment deadline, by deal (for the audit)."""
        found: dict[str, set[str]] = {}
        for raw in await self._redis.zrange(self._key, 0, -1):
            try:
                timer = Timer.decode(raw.decode())
            except ValueError:
                continue
            if timer.kind is Kind.EXPIRE:
                found.setdefault(timer.deal_id, set()).add(timer.order_id)
        return found
