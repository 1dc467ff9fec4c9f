"""The shards' outboxes in Redis: one stream per deal; those with events waiting are
marked in ``fs:outboxes`` (redis_keys.OUTBOXES)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.breakers import REDIS, guarded
from actors.ports import OutboxEntry

# An event written after the relay's last read, before this runs, keeps the mark.
_SETTLE = """
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
"""
# The same after deleting what Kafka acknowledged: the relay's round then costs one
# round trip less (on this box each is ~0.1-0.3 ms of CPU in the relay alone).
_ACKNOWLEDGE = """
for i = 2, #ARGV, 1000 do
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
"""


@guarded(REDIS)
class RedisOutbox:
    def __init__(
        self, client: aioredis.Redis, registry: str = keys.OUTBOXES, known: str = keys.DEALS
    ) -> None:
        """``registry``: the marks; ``known``: the deals a sweep looks at (tests give
        their own, so that the cluster's relay leaves theirs alone)."""
        self._redis = client
        self._registry = registry
        self._known = known
        self._settle = client.register_script(_SETTLE)
        self._acknowledge = client.register_script(_ACKNOWLEDGE)

    async def deals(self) -> list[str]:
        """The deals whose outbox may hold events (marked by the shards' checkpoints)."""
        return sorted(d.decode() for d in await self._redis.smembers(self._registry))

    async def settle(self, deal_id: str) -> None:
        """Unmark a deal whose outbox is empty; one that got events meanwhile stays."""
        await self._settle(keys=[keys.outbox(deal_id), self._registry], args=[deal_id])

    async def sweep(self) -> int:
        """Every preheated deal's outbox length in one pipeline; those with events are
        marked. The checkpoint script marks what it writes; this finds what a shard of
        code older than the marks wrote (a stack upgraded with its shards running)."""
        known = [d.decode() for d in await self._redis.zrange(self._known, 0, -1)]
        if not known:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for deal_id in known:
                pipe.xlen(keys.outbox(deal_id))
            depths = await pipe.execute()
        unmarked = [d for d, depth in zip(known, depths, strict=True) if depth]
        if not unmarked:
            return 0
        return int(await self._redis.sadd(self._registry, *unmarked))

    async def backlog(self) -> dict[str, tuple[int, float | None]]:
        """Every marked deal's outbox: (events waiting, when the oldest was written,
        epoch seconds, or None when empty). A stream id starts with its entry's
        millisecond time, so the age needs no field of its own."""
        registered = sorted(d.decode() for d in await self._redis.smembers(self._registry))
        if not registered:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for deal_id in registered:
                pipe.xlen(keys.outbox(deal_id))
                pipe.xrange(keys.outbox(deal_id), "-", "+", count=1)
            replies = await pipe.execute()
        backlog = {}
        for i, deal_id in enumerate(registered):
            depth, head = replies[2 * i], replies[2 * i + 1]
            oldest = int(head[0][0].split(b"-")[0]) / 1000 if head else None
            backlog[deal_id] = (int(depth), oldest)
        return backlog

    async def read(self, deal_id: str, limit: int) -> list[OutboxEntry]:
        # Acknowledged entries are deleted, so the stream's head is the oldest unsent one.
        rows = await self._redis.xrange(keys.outbox(deal_id), "-", "+", count=limit)
        entries = []
        for entry_id, fields in rows:
            payload = fields[b"event"]
            order = fields.get(b"order")  # written beside the event since issue 16
            order_id = order.decode() if order is not None else json.loads(payload)["order_id"]
            entries.append(OutboxEntry(entry_id.decode(), order_id, payload))
        return entries

    async def acknowledge(self, deal_id: str, entry_ids: list[str]) -> None:
        if entry_ids:
            await self._acknowledge(
                keys=[keys.outbox(deal_id), self._registry], args=[deal_id, *entry_ids]
            )
