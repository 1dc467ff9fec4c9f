"""A deal's own keys outside the shards' checkpoints: its pool and its cached terms."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys


async def open_pool(client: aioredis.Redis, deal_id: str, stock: int) -> None:
    """Put the deal's stock in its pool (once, ever: a second call changes nothing). Its
    outbox is registered with the relay by each shard as it starts (take_epoch)."""
    await client.set(keys.pool(deal_id), stock, nx=True)


async def cached_deal(client: aioredis.Redis, deal_id: str) -> dict[str, Any] | None:
    """The deal as the catalogue cached it at creation (serve_app/catalog.py)."""
    raw = await client.get(keys.deal(deal_id))
    return None if raw is None else json.loads(raw)  # type: ignore[no-any-return]
