"""The shop's own endpoints: products, deals and a deal's live figures."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from actors.adapters import redis_keys as keys
from actors.domain.deals import DealTerms, problems
from serve_app.auth import Principal
from serve_app.deps import admin
from serve_app.errors import ApiError
from serve_app.routes.deals import DealId, known_deal
from serve_app.schemas import DealIn, DealOut, DealStats, ProductIn, ProductOut
from serve_app.stock_client import ShardUnavailable

router = APIRouter(prefix="/api/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(admin)]


@router.post("/products", status_code=201, response_model=ProductOut)
async def create_product(body: ProductIn, request: Request, _: Admin) -> dict[str, str]:
    return await request.app.state.catalog.create_product(body)


@router.post("/deals", status_code=201, response_model=DealOut)
async def create_deal(body: DealIn, request: Request, _: Admin) -> dict[str, object]:
    terms = DealTerms(
        body.price_cents, body.stock, body.per_user_limit, body.starts_at, body.ends_at
    )
    found = problems(terms)
    if found:
        raise ApiError(422, "invalid_request", "; ".join(found))
    state = request.app.state
    deal = await state.catalog.create_deal(body, body.shards or state.settings.shards_per_deal)
    await state.stock.schedule(deal)  # the DealClock preheats it on time from here on
    now = time.time()
    if deal.starts_ts - now <= state.settings.preheat_lead_s:
        try:
            await state.stock.preheat(deal)
        except ShardUnavailable:
            pass  # the deal stands; the DealClock (or the first purchase) preheats it
    return deal.view(now, deal.stock)


@router.get("/deals/{deal_id}/stats", response_model=DealStats)
async def deal_stats(deal_id: DealId, request: Request, _: Admin) -> dict[str, object]:
    state = request.app.state
    deal = await known_deal(request, deal_id)
    try:
        shards = await state.stock.stats(deal)
    except ShardUnavailable:
        raise ApiError(503, "unavailable", "a shard did not answer") from None
    pool = int(await state.backends.redis.get(keys.pool(deal_id)) or 0)
    return {
        "deal_id": deal_id,
        "stock": deal.stock,
        "available": pool + sum(c.available for c, _ in shards),
        "held": sum(c.held for c, _ in shards),
        "sold": sum(c.sold for c, _ in shards),
        "cancelled": sum(n for _, n in shards),
        "pool": pool,
        "shards": [
            {"shard": i, "available": c.available, "held": c.held, "sold": c.sold}
            for i, (c, _) in enumerate(shards)
        ],
    }
