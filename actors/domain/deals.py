"""Deals: validation, status by server time, stock split across shards, user -> shard."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DealStatus(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    SOLD_OUT = "sold_out"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class DealTerms:
    price_cents: int
    stock: int
    per_user_limit: int
    starts_at: datetime
    ends_at: datetime


MAX_STOCK = 10_000_000
MAX_PRICE_CENTS = 100_000_000_00


def problems(terms: DealTerms) -> list[str]:
    """Why these terms cannot make a deal; empty when they can."""
    found = []
    if not 1 <= terms.stock <= MAX_STOCK:
        found.append(f"stock must be between 1 and {MAX_STOCK}")
    if not 0 <= terms.price_cents <= MAX_PRICE_CENTS:
        found.append(f"price_cents must be between 0 and {MAX_PRICE_CENTS}")
    if terms.per_user_limit < 1:
        found.append("per_user_limit must be at least 1")
    if terms.starts_at.tzinfo is None or terms.ends_at.tzinfo is None:
        found.append("starts_at and ends_at need a time zone")
    elif terms.ends_at <= terms.starts_at:
        found.append("ends_at must be after starts_at")
    return found


def status(terms: DealTerms, now: datetime, remaining: int) -> DealStatus:
    if now >= terms.ends_at:
        return DealStatus.ENDED
    if now < terms.starts_at:
        return DealStatus.UPCOMING
    return DealStatus.OPEN if remaining > 0 else DealStatus.SOLD_OUT


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
