"""A buyer's order, live from the shard's checkpoint in Redis."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from actors.adapters import redis_keys as keys
from serve_app.auth import Principal
from serve_app.catalog import iso
from serve_app.deps import principal
from serve_app.errors import ApiError
from serve_app.schemas import OrderOut

router = APIRouter(prefix="/api/orders", tags=["orders"])
OrderId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(
    order_id: OrderId, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, object]:
    state = request.app.state
    redis = state.backends.redis
    where = await redis.hget(keys.ORDER_INDEX, order_id)
    not_yours = ApiError(404, "unknown_order", f"no order {order_id}")
    if where is None:
        raise not_yours
    deal_id, _, shard = where.decode().rpartition(":")
    raw = await redis.hget(keys.reservations(deal_id, int(shard)), order_id)
    if raw is None:
        raise not_yours
    r = json.loads(raw)
    if r["user_id"] != who.user_id:
        raise not_yours  # someone else's order does not exist for you
    deal = await state.catalog.deal(deal_id)
    price = deal.price_cents if deal else 0
    return {
        "order_id": order_id,
        "deal_id": deal_id,
        "quantity": r["quantity"],
        "amount_cents": r["quantity"] * price,
        "status": r["status"],
        "pay_by": iso(r["pay_by"]),
        "created_at": iso(r["created_at"]),
    }
