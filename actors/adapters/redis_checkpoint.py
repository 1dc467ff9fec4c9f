"""StockShard checkpoints in Redis: one fenced script per group commit.

A commit writes the shard's counts, the reservations the transaction touched, its order
events (the outbox), its pool move and the payment deadlines of its held orders (the
DealClock's timers) in one Lua script, so Redis holds either all of a transaction or
none of it: no reservation without its event, no held order without its deadline. A
commit that would create orders while the deal's outbox is at its bound is refused. It also keeps each purchase's first answer by its
idempotency key, so the ingress can repeat it without asking the shard. The script first checks the shard's epoch: a copy of the
shard that has been superseded (docs/design.md, "One writer per shard") is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from actors.adapters import redis_keys as keys
from actors.adapters.breakers import REDIS, guarded
from actors.domain import timers
from actors.domain.events import CREATED
from actors.domain.ledger import Changes
from actors.domain.orders import Counts, OrderStatus, Reservation
from actors.ports import Fenced, OutboxFull, PoolShort, ShardSnapshot, StoreError

# KEYS: epoch, counts, reservations, pool, outbox, order index, first answers, timers,
#       outbox registry
# ARGV: epoch, "deal_id:shard", stock, available, held, sold, pool_delta, outbox_max,
#       n_created, n_reservations, deal_id,
#       n_reservations x (order_id, json, answer field, answer, timer, deadline or ""),
#       events as (order_id, json) pairs (the relay keys Kafka records by order id
#       without decoding the event)
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
local pool_delta = tonumber(ARGV[7])
if pool_delta < 0 and tonumber(redis.call('GET', KEYS[4]) or '0') + pool_delta < 0 then
  return redis.error_reply('POOL_SHORT')
end
local n_created = tonumber(ARGV[9])
if n_created > 0 and redis.call('XLEN', KEYS[5]) + n_created > tonumber(ARGV[8]) then
  return redis.error_reply('OUTBOX_FULL')
end
if pool_delta ~= 0 then
  redis.call('INCRBY', KEYS[4], pool_delta)
end
redis.call('HSET', KEYS[2], 'stock', ARGV[3], 'available', ARGV[4], 'held', ARGV[5], 'sold', ARGV[6])
local n = tonumber(ARGV[10])
local i = 12
for _ = 1, n do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[6], ARGV[i], ARGV[2])
  redis.call('HSET', KEYS[7], ARGV[i + 2], ARGV[i + 3])
  if ARGV[i + 5] == '' then
    redis.call('ZREM', KEYS[8], ARGV[i + 4])
  else
    redis.call('ZADD', KEYS[8], ARGV[i + 5], ARGV[i + 4])
  end
  i = i + 6
end
if i <= #ARGV then
  redis.call('SADD', KEYS[9], ARGV[11])  -- the relay reads only the outboxes marked so
end
while i <= #ARGV do
  redis.call('XADD', KEYS[5], '*', 'order', ARGV[i], 'event', ARGV[i + 1])
  i = i + 2
end
return 'OK'
"""


def decode_counts(raw: dict[bytes, bytes]) -> Counts | None:
    if not raw:
        return None  # the shard was never written
    c = {k.decode(): int(v) for k, v in raw.items()}
    return Counts(c["stock"], c["available"], c["held"], c["sold"])


def decode_reservation(raw: bytes | str) -> Reservation:
    return Reservation.from_dict(json.loads(raw))


@dataclass(frozen=True, slots=True)
class DealCheckpoint:
    """Everything Redis holds of one deal's stock, read at one moment (for the audit)."""

    pool: int | None  # None: never preheated
    answers: dict[str, str]  # first answers: answer field -> order id
    shards: list[tuple[Counts | None, list[Reservation]]]


async def read_deal(client: aioredis.Redis, deal_id: str, shards: int) -> DealCheckpoint:
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(keys.pool(deal_id))
        pipe.hgetall(keys.answers(deal_id))
        for n in range(shards):
            pipe.hgetall(keys.counts(deal_id, n))
            pipe.hgetall(keys.reservations(deal_id, n))
        raw: list[Any] = await pipe.execute()
    return DealCheckpoint(
        pool=None if raw[0] is None else int(raw[0]),
        answers={k.decode(): keys.parse_answer(v)[0] for k, v in raw[1].items()},
        shards=[
            (
                decode_counts(raw[2 + 2 * n]),
                [decode_reservation(v) for v in raw[3 + 2 * n].values()],
            )
            for n in range(shards)
        ],
    )


@guarded(REDIS)
class RedisCheckpointStore:
    def __init__(
        self, client: aioredis.Redis, outbox_max: int, registry: str = keys.OUTBOXES
    ) -> None:
        """``registry``: the set of deals whose outbox has events for the relay
        (redis_keys.OUTBOXES); tests give their own, out of the way of the cluster's
        relay."""
        self._redis = client
        self._outbox_max = outbox_max
        self._registry = registry
        self._commit = client.register_script(_COMMIT)

    async def take_epoch(self, deal_id: str, shard: int) -> int:
        try:
            return int(await self._redis.incr(keys.epoch(deal_id, shard)))
        except RedisError as exc:
            raise StoreError(f"taking the epoch failed: {exc}") from exc

    async def pool(self, deal_id: str) -> int:
        try:
            return int(await self._redis.get(keys.pool(deal_id)) or 0)
        except RedisError as exc:
            raise StoreError(f"reading the pool failed: {exc}") from exc

    async def load(self, deal_id: str, shard: int) -> ShardSnapshot:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(keys.counts(deal_id, shard))
                pipe.hgetall(keys.reservations(deal_id, shard))
                pipe.get(keys.pool(deal_id))
                raw_counts, raw_res, raw_pool = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"loading the checkpoint failed: {exc}") from exc
        return ShardSnapshot(
            counts=decode_counts(raw_counts),
            reservations=[decode_reservation(v) for v in raw_res.values()],
            pool=int(raw_pool or 0),
        )

    async def commit(self, deal_id: str, shard: int, epoch: int, changes: Changes) -> None:
        c = changes.counts
        args: list[str | int | float] = [
            epoch,
            f"{deal_id}:{shard}",
            c.stock,
            c.available,
            c.held,
            c.sold,
            changes.pool_delta,
            self._outbox_max,
            sum(1 for e in changes.events if e["type"] == CREATED),
            len(changes.reservations),
            deal_id,
        ]
        for r in changes.reservations:
            held = r.status is OrderStatus.RESERVED
            args += [
                r.order_id,
                json.dumps(r.to_dict(), separators=(",", ":")),
                keys.answer_field(r.user_id, r.key),
                f"{r.order_id}:{r.pay_by!r}",
                timers.expire(deal_id, shard, r.order_id).encode(),
                repr(r.pay_by) if held else "",  # a settled order needs no deadline
            ]
        for e in changes.events:
            args += [e["order_id"], json.dumps(e, separators=(",", ":"))]
        script_keys = [
            keys.epoch(deal_id, shard),
            keys.counts(deal_id, shard),
            keys.reservations(deal_id, shard),
            keys.pool(deal_id),
            keys.outbox(deal_id),
            keys.ORDER_INDEX,
            keys.answers(deal_id),
            keys.TIMERS,
            self._registry,
        ]
        try:
            await self._commit(keys=script_keys, args=args)
        except ResponseError as exc:
            if "FENCED" in str(exc):
                raise Fenced(f"shard {deal_id}/{shard} epoch {epoch} was superseded") from exc
            if "OUTBOX_FULL" in str(exc):
                raise OutboxFull(f"the outbox of {deal_id} is full: Kafka is behind") from exc
            if "POOL_SHORT" in str(exc):
                raise PoolShort(f"the pool of {deal_id} is short") from exc
            raise StoreError(f"checkpoint refused: {exc}") from exc
        except RedisError as exc:
            raise StoreError(f"checkpoint failed: {exc}") from exc
