"""The shards' outboxes in Redis: one stream per deal; those with events waiting are
marked in ``fs:outboxes`` (redis_keys.OUTBOXES)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from actors.adapters.breakers import REDIS, guarded
from actors.ports import OutboxEntry

# The marked deals' oldest events in one call, a deal found empty unmarked in the same
# step (an event written after the relay's last acknowledgement keeps it). Bounded in
# all as well as per deal, so that a backlog after a Kafka outage (thousands of events
# in many outboxes) goes out in steps rather than as one reply that holds Redis, and
# each call starts at another deal, so that none waits behind busier ones. The outbox
# keys are built here from the marks, not passed in KEYS: fine on one Redis, as the
# marks themselves are (redis_keys.OUTBOXES); a Redis Cluster would need a call per
# slot. The reply is flat (deal, then id, order, event per entry): one round trip a
# relay round instead of one per deal, and no per-entry decoding of XRANGE's nested
# reply in Python.
_TAKE = """
local deals = redis.call('SMEMBERS', KEYS[1])
local limit, room, first = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
local taken = {}
for k = 0, #deals - 1 do
  if room <= 0 then break end
  local deal = deals[(first + k) % #deals + 1]
  local key = ARGV[2] .. deal .. ARGV[3]
  local rows = redis.call('XRANGE', key, '-', '+', 'COUNT', math.min(limit, room))
  if #rows == 0 then
    redis.call('SREM', KEYS[1], deal)
  else
    room = room - #rows
    local flat = {deal}
    for _, row in ipairs(rows) do
      local order, event = '', ''  -- no order: written before it was kept beside the event
      for i = 1, #row[2], 2 do
        if row[2][i] == 'order' then order = row[2][i + 1] end
        if row[2][i] == 'event' then event = row[2][i + 1] end
      end
      flat[#flat + 1] = row[1]
      flat[#flat + 1] = order
      flat[#flat + 1] = event
    end
    taken[#taken + 1] = flat
  end
end
return taken
"""
# What Kafka acknowledged is always the head of each outbox (the relay reads from the
# head and is its only reader), so it leaves by trimming below the first entry to keep:
# one argument a deal instead of every entry's id. A deal left empty is unmarked.
_ACKNOWLEDGE = """
for i = 2, #KEYS do
  redis.call('XTRIM', KEYS[i], 'MINID', ARGV[2 * i - 2])
  if redis.call('XLEN', KEYS[i]) == 0 then
    redis.call('SREM', KEYS[1], ARGV[2 * i - 3])
  end
end
"""
_PREFIX, _SUFFIX = keys.outbox("\0").split("\0")


def following(entry_id: str) -> str:
    """The smallest stream id after ``entry_id`` ("ms-seq")."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


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
        self._take = client.register_script(_TAKE)
        self._acknowledge = client.register_script(_ACKNOWLEDGE)
        self._takes = 0  # where the next take starts among the marked deals

    async def take(self, limit: int, total: int) -> dict[str, list[OutboxEntry]]:
        self._takes += 1
        args = [limit, _PREFIX, _SUFFIX, total, self._takes]
        taken = {}
        for flat in await self._take(keys=[self._registry], args=args):
            rows = iter(flat[1:])
            taken[flat[0].decode()] = [
                OutboxEntry(
                    entry_id.decode(),
                    order.decode() if order else json.loads(payload)["order_id"],
                    payload,
                )
                for entry_id, order, payload in zip(rows, rows, rows, strict=True)
            ]
        return taken

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

    async def acknowledge(self, through: dict[str, str]) -> None:
        if not through:
            return
        args = []
        for deal_id, entry_id in through.items():
            args += [deal_id, following(entry_id)]
        await self._acknowledge(
            keys=[self._registry, *(keys.outbox(d) for d in through)], args=args
        )
