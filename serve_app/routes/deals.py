"""The storefront's deals (buying one: routes/purchase.py)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request

from serve_app.catalog import DealRecord
from serve_app.errors import ApiError
from serve_app.schemas import DealOut

router = APIRouter(prefix="/api/deals", tags=["deals"])

DealId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]


async def known_deal(request: Request, deal_id: str) -> DealRecord:
    deal = await request.app.state.catalog.deal(deal_id)
    if deal is None:
        raise ApiError(404, "unknown_deal", f"no deal {deal_id}")
    return deal


@router.get("", response_model=list[DealOut], summary="Open and upcoming deals")
async def list_deals(request: Request) -> list[dict[str, object]]:
    catalog = request.app.state.catalog
    now = time.time()
    deals = await catalog.live_deals(now)
    remaining = await catalog.remaining(deals)
    return [d.view(now, left) for d, left in zip(deals, remaining, strict=True)]


@router.get("/{deal_id}", response_model=DealOut)
async def get_deal(deal_id: DealId, request: Request) -> dict[str, object]:
    deal = await known_deal(request, deal_id)
    (remaining,) = await request.app.state.catalog.remaining([deal])
    return deal.view(time.time(), remaining)
