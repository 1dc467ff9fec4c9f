"""Fakes of the ports, for unit tests only (integration tests use the real services)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from actors.domain.deals import Deal, Product
from actors.domain.ledger import Changes
from actors.domain.orders import Counts, Reservation
from actors.ports import Fenced, OutboxFull, PoolShort, ShardSnapshot, StoreError


@dataclass
class _Shard:
    counts: Counts | None = None
    reservations: dict[str, Reservation] = field(default_factory=dict)
    epoch: int = 0


class FakeStore:
    """The checkpoint store's contract in memory: fenced, atomic, pool-checked."""

    def __init__(self) -> None:
        self.shards: dict[tuple[str, int], _Shard] = {}
        self.pools: dict[str, int] = {}
        self.events: list[dict] = []
        self.commits = 0
        self.fail_next = 0  # make the next N commits fail like a dead Redis
        self.lose_reply_next = 0  # apply the next N commits, then fail as if the reply was lost
        self.delay_s = 0.0
        self.outbox_max: int | None = None  # the bound on events the outbox holds

    def _shard(self, deal_id: str, shard: int) -> _Shard:
        return self.shards.setdefault((deal_id, shard), _Shard())

    async def take_epoch(self, deal_id: str, shard: int) -> int:
        s = self._shard(deal_id, shard)
        s.epoch += 1
        return s.epoch

    async def load(self, deal_id: str, shard: int) -> ShardSnapshot:
        s = self._shard(deal_id, shard)
        return ShardSnapshot(s.counts, list(s.reservations.values()), self.pools.get(deal_id, 0))

    async def pool(self, deal_id: str) -> int:
        return self.pools.get(deal_id, 0)

    async def commit(self, deal_id: str, shard: int, epoch: int, changes: Changes) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_next:
            self.fail_next -= 1
            raise StoreError("redis is down (fake)")
        s = self._shard(deal_id, shard)
        if s.epoch != epoch:
            raise Fenced("superseded")
        if self.pools.get(deal_id, 0) + changes.pool_delta < 0:
            raise PoolShort("short")
        created = sum(1 for e in changes.events if e["type"] == "created")
        if self.outbox_max is not None and created and len(self.events) + created > self.outbox_max:
            raise OutboxFull("full")
        self.pools[deal_id] = self.pools.get(deal_id, 0) + changes.pool_delta
        s.counts = changes.counts
        for r in changes.reservations:
            s.reservations[r.order_id] = r
        self.events += changes.events
        self.commits += 1
        if self.lose_reply_next:
            self.lose_reply_next -= 1
            raise StoreError("connection lost after the write (fake)")


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class CountingIds:
    def __init__(self, prefix: str = "o") -> None:
        self._n = itertools.count()
        self.prefix = prefix

    def __call__(self) -> str:
        return f"{self.prefix}{next(self._n)}"


def deal_of(
    deal_id: str,
    *,
    stock: int,
    per_user_limit: int,
    price_cents: int = 100,
    shards: int = 1,
    starts_ts: float = 0.0,
    ends_ts: float = 4_102_444_800.0,  # 2100
) -> Deal:
    """A deal for tests that need only its numbers (open from 1970 to 2100)."""
    return Deal(
        deal_id,
        Product(f"p-{deal_id}", "Test product", "", ""),
        price_cents,
        stock,
        per_user_limit,
        starts_ts,
        ends_ts,
        shards,
    )
