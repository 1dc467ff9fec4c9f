"""The storefront's deals (buying one: routes/purchase.py)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from actors.domain.deals import Deal
from serve_app.contract import failures
from serve_app.deps import ShopDep
from serve_app.errors import ApiError
from serve_app.schemas import DealOut
from serve_app.services.catalog import Catalog
from serve_app.services.outcomes import Failure, Problem
from serve_app.timefmt import iso

router = APIRouter(prefix="/api/deals", tags=["deals"])

DealId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]


def deal_view(deal: Deal, now_ts: float, remaining: int) -> dict[str, object]:
    return {
        "deal_id": deal.deal_id,
        "product": asdict(deal.product),
        "price_cents": deal.price_cents,
        "stock": deal.stock,
        "remaining": remaining,
        "per_user_limit": deal.per_user_limit,
        "starts_at": iso(deal.starts_ts),
        "ends_at": iso(deal.ends_ts),
        "status": deal.status(now_ts, remaining).value,
    }


async def known_deal(catalog: Catalog, deal_id: str) -> Deal:
    deal = await catalog.deal(deal_id)
    if deal is None:
        raise ApiError.of(Failure(Problem.UNKNOWN_DEAL, deal_id))
    return deal


@router.get(
    "",
    response_model=list[DealOut],
    summary="Open and upcoming deals",
    operation_id="listDeals",
    responses=failures(503),
)
async def list_deals(shop: ShopDep) -> list[dict[str, object]]:
    now = time.time()
    deals = await shop.catalog.live_deals(now)
    remaining = await shop.catalog.remaining(deals)
    return [deal_view(d, now, left) for d, left in zip(deals, remaining, strict=True)]


@router.get(
    "/{deal_id}",
    response_model=DealOut,
    operation_id="getDeal",
    responses=failures(404, 422, 503, _404="unknown_deal"),
)
async def get_deal(deal_id: DealId, shop: ShopDep) -> dict[str, object]:
    deal = await known_deal(shop.catalog, deal_id)
    (remaining,) = await shop.catalog.remaining([deal])
    return deal_view(deal, time.time(), remaining)
