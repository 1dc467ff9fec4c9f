"""The shop's own endpoints: products, deals and a deal's live figures."""

from __future__ import annotations

import time
from dataclasses import asdict

from fastapi import APIRouter

from actors.domain.deals import Deal
from serve_app.contract import SECURED, failures, link
from serve_app.deps import Admin, ShopDep
from serve_app.errors import ApiError
from serve_app.routes.deals import DealId, deal_view, known_deal
from serve_app.schemas import DealIn, DealOut, DealStats, ProductIn, ProductOut
from serve_app.services.outcomes import Failure

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.post(
    "/products",
    status_code=201,
    response_model=ProductOut,
    operation_id="createProduct",
    openapi_extra=SECURED,
    responses=failures(401, 403, 413, 422, 503),
)
async def create_product(body: ProductIn, shop: ShopDep, _: Admin) -> dict[str, str]:
    product = await shop.catalog.create_product(body.name, body.description, body.image_url)
    return asdict(product)


@router.post(
    "/deals",
    status_code=201,
    response_model=DealOut,
    operation_id="createDeal",
    openapi_extra=SECURED,
    responses={
        201: {
            "description": "the deal, as `GET /api/deals/{deal_id}` shows it",
            "links": {
                name: link(operation, "deal_id", "$response.body#/deal_id")
                for name, operation in (
                    ("GetDeal", "getDeal"),
                    ("Purchase", "purchase"),
                    ("DealStats", "dealStats"),
                )
            },
        },
        **failures(401, 403, 404, 413, 422, 503, _404="unknown_product"),
    },
)
async def create_deal(body: DealIn, shop: ShopDep, _: Admin) -> dict[str, object]:
    deal = await shop.catalog.create_deal(
        body.product_id,
        body.price_cents,
        body.stock,
        body.per_user_limit,
        body.starts_at.timestamp(),
        body.ends_at.timestamp(),
        body.shards,
    )
    if isinstance(deal, Failure):
        raise ApiError.of(deal)
    return deal_view(deal, time.time(), deal.stock)


@router.get(
    "/deals/{deal_id}/stats",
    response_model=DealStats,
    operation_id="dealStats",
    openapi_extra=SECURED,
    responses=failures(401, 403, 404, 422, 503, _404="unknown_deal"),
)
async def deal_stats(deal_id: DealId, shop: ShopDep, _: Admin) -> dict[str, object]:
    deal: Deal = await known_deal(shop.catalog, deal_id)
    found = await shop.catalog.stats(deal)
    if isinstance(found, Failure):
        raise ApiError.of(found)
    pool, shards = found
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
