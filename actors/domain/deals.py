"""Deals: the one deal shape, validation, status by server time, stock split across
shards, user -> shard."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class DealStatus(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    SOLD_OUT = "sold_out"
    ENDED = "ended"


MAX_STOCK = 10_000_000
MAX_PRICE_CENTS = 100_000_000_00
MAX_PER_USER_LIMIT = 1000
MAX_QUANTITY = 1000  # units in one purchase
MAX_SHARDS = 64
# A deal's window lies within what MySQL's DATETIME and every clock here can hold:
# 2000-01-01 to 9999-01-01 UTC. (A year-83 start is a typing mistake, not a sale.)
EARLIEST_TS = 946_684_800
LATEST_TS = 253_370_764_800


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    description: str
    image_url: str


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal as every layer sees it: the catalogue makes it, the cache and the shards
    keep it, the clock schedules it. It never changes once made."""

    deal_id: str
    product: Product
    price_cents: int
    stock: int
    per_user_limit: int
    starts_ts: float  # epoch seconds
    ends_ts: float
    shards: int  # buyers map to shards by a hash modulo this, so it is fixed for life

    def status(self, now_ts: float, remaining: int) -> DealStatus:
        if now_ts >= self.ends_ts:
            return DealStatus.ENDED
        if now_ts < self.starts_ts:
            return DealStatus.UPCOMING
        return DealStatus.OPEN if remaining > 0 else DealStatus.SOLD_OUT


def problems(deal: Deal) -> list[str]:
    """Why this cannot be a deal; empty when it can. (Time zones are the edge's to
    check: a deal's times are epoch seconds here.)"""
    found = []
    if not 1 <= deal.stock <= MAX_STOCK:
        found.append(f"stock must be between 1 and {MAX_STOCK}")
    if not 0 <= deal.price_cents <= MAX_PRICE_CENTS:
        found.append(f"price_cents must be between 0 and {MAX_PRICE_CENTS}")
    if not 1 <= deal.per_user_limit <= MAX_PER_USER_LIMIT:
        found.append(f"per_user_limit must be between 1 and {MAX_PER_USER_LIMIT}")
    if not 1 <= deal.shards <= MAX_SHARDS:
        found.append(f"shards must be between 1 and {MAX_SHARDS}")
    if deal.starts_ts < EARLIEST_TS or deal.ends_ts > LATEST_TS:
        found.append("starts_at and ends_at must lie between 2000-01-01 and 9999-01-01 UTC")
    if deal.ends_ts <= deal.starts_ts:
        found.append("ends_at must be after starts_at")
    return found


def split_stock(stock: int, shards: int) -> list[int]:
    """Stock per shard, as even as integers allow; the first shards take the remainder."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    base, extra = divmod(stock, shards)
    return [base + (1 if i < extra else 0) for i in range(shards)]


def shard_for_user(user_id: str, shards: int) -> int:
    """A stable shard for a user (the same in every process, unlike ``hash``)."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards
