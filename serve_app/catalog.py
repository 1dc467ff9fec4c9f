"""Products and deals: MySQL is the record; Redis and replica memory serve the reads.

A deal is cached in Redis when it is created (and again whenever it is read back from
MySQL), so the storefront's deal pages and the purchase path never query MySQL for a
deal that is cached; ``remaining`` comes from the shards' checkpoints in Redis.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from actors.adapters import redis_keys as keys
from actors.domain.deals import DealStatus, DealTerms, status
from actors.shard import DealInfo
from serve_app.backends import Backends
from serve_app.errors import ApiError
from serve_app.schemas import DealIn, ProductIn

_NEGATIVE_TTL_S = 1.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class DealRecord:
    deal_id: str
    product: dict[str, str]
    price_cents: int
    stock: int
    per_user_limit: int
    starts_ts: float
    ends_ts: float
    shards: int

    def info(self) -> DealInfo:
        return DealInfo(
            self.deal_id, self.stock, self.per_user_limit, self.price_cents, self.shards
        )

    def status(self, now_ts: float, remaining: int) -> DealStatus:
        terms = DealTerms(
            self.price_cents,
            self.stock,
            self.per_user_limit,
            datetime.fromtimestamp(self.starts_ts, UTC),
            datetime.fromtimestamp(self.ends_ts, UTC),
        )
        return status(terms, datetime.fromtimestamp(now_ts, UTC), remaining)

    def view(self, now_ts: float, remaining: int) -> dict[str, Any]:
        return {
            "deal_id": self.deal_id,
            "product": self.product,
            "price_cents": self.price_cents,
            "stock": self.stock,
            "remaining": remaining,
            "per_user_limit": self.per_user_limit,
            "starts_at": iso(self.starts_ts),
            "ends_at": iso(self.ends_ts),
            "status": self.status(now_ts, remaining).value,
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> DealRecord:
        return cls(**json.loads(raw))


class Catalog:
    def __init__(self, backends: Backends) -> None:
        self._b = backends
        self._deals: dict[str, DealRecord] = {}  # deals never change once made
        self._missing: dict[str, float] = {}

    async def create_product(self, body: ProductIn) -> dict[str, str]:
        product = {"product_id": str(uuid.uuid4()), **body.model_dump()}
        await self._b.execute(
            "INSERT INTO products (product_id, name, description, image_url) VALUES (%s, %s, %s, %s)",
            (product["product_id"], body.name, body.description, body.image_url),
        )
        return product

    async def create_deal(self, body: DealIn, shards: int) -> DealRecord:
        rows = await self._b.query(
            "SELECT product_id, name, description, image_url FROM products WHERE product_id = %s",
            (body.product_id,),
        )
        if not rows:
            raise ApiError(404, "unknown_product", f"no product {body.product_id}")
        product = dict(
            zip(("product_id", "name", "description", "image_url"), rows[0], strict=True)
        )
        record = DealRecord(
            deal_id=str(uuid.uuid4()),
            product=product,
            price_cents=body.price_cents,
            stock=body.stock,
            per_user_limit=body.per_user_limit,
            starts_ts=body.starts_at.timestamp(),
            ends_ts=body.ends_at.timestamp(),
            shards=shards,
        )
        await self._b.execute(
            "INSERT INTO deals (deal_id, product_id, price_cents, stock, per_user_limit,"
            " starts_at, ends_at, shards) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                record.deal_id,
                body.product_id,
                record.price_cents,
                record.stock,
                record.per_user_limit,
                body.starts_at.astimezone(UTC).replace(tzinfo=None),
                body.ends_at.astimezone(UTC).replace(tzinfo=None),
                shards,
            ),
        )
        await self.cache(record)
        return record

    async def cache(self, record: DealRecord) -> None:
        async with self._b.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.deal(record.deal_id), record.to_json())
            pipe.zadd(keys.DEALS, {record.deal_id: record.ends_ts})
            await pipe.execute()
        self._deals[record.deal_id] = record
        self._missing.pop(record.deal_id, None)

    async def deal(self, deal_id: str) -> DealRecord | None:
        found = self._deals.get(deal_id)
        if found is not None:
            return found
        if self._missing.get(deal_id, 0) > time.monotonic():
            return None
        raw = await self._b.redis.get(keys.deal(deal_id))
        if raw is not None:
            found = DealRecord.from_json(raw)
            self._deals[deal_id] = found
            return found
        found = await self._deal_from_mysql(deal_id)
        if found is None:
            self._missing[deal_id] = time.monotonic() + _NEGATIVE_TTL_S
            return None
        await self.cache(found)
        return found

    async def live_deals(self, now_ts: float) -> list[DealRecord]:
        ids = await self._b.redis.zrangebyscore(keys.DEALS, now_ts, "+inf")
        wanted = [i.decode() for i in ids]
        unknown = [i for i in wanted if i not in self._deals]
        if unknown:
            raws = await self._b.redis.mget([keys.deal(i) for i in unknown])
            for raw in raws:
                if raw is not None:
                    record = DealRecord.from_json(raw)
                    self._deals[record.deal_id] = record
        return [self._deals[i] for i in wanted if i in self._deals]

    async def remaining(self, records: list[DealRecord]) -> list[int]:
        """Units still for sale: the pool plus every shard's available, from Redis."""
        async with self._b.redis.pipeline(transaction=False) as pipe:
            for r in records:
                pipe.get(keys.pool(r.deal_id))
                for n in range(r.shards):
                    pipe.hget(keys.counts(r.deal_id, n), "available")
            raw = await pipe.execute()
        out, i = [], 0
        for r in records:
            pool = raw[i]
            shard_values = raw[i + 1 : i + 1 + r.shards]
            i += 1 + r.shards
            if pool is None:  # not preheated yet: all of it is still for sale
                out.append(r.stock)
            else:
                out.append(int(pool) + sum(int(v or 0) for v in shard_values))
        return out

    async def _deal_from_mysql(self, deal_id: str) -> DealRecord | None:
        rows = await self._b.query(
            "SELECT d.deal_id, d.price_cents, d.stock, d.per_user_limit, d.starts_at, d.ends_at,"
            " d.shards, p.product_id, p.name, p.description, p.image_url"
            " FROM deals d JOIN products p ON p.product_id = d.product_id WHERE d.deal_id = %s",
            (deal_id,),
        )
        if not rows:
            return None
        d = rows[0]
        return DealRecord(
            deal_id=d[0],
            product={"product_id": d[7], "name": d[8], "description": d[9], "image_url": d[10]},
            price_cents=int(d[1]),
            stock=int(d[2]),
            per_user_limit=int(d[3]),
            starts_ts=d[4].replace(tzinfo=UTC).timestamp(),
            ends_ts=d[5].replace(tzinfo=UTC).timestamp(),
            shards=int(d[6]),
        )
