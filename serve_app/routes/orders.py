"""A buyer's order: live from the shard's checkpoint in Redis; paid or cancelled by the shard."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from actors.adapters import redis_keys as keys
from actors.domain.ledger import Refusal, Refused
from serve_app.auth import Principal
from serve_app.catalog import iso
from serve_app.deps import principal
from serve_app.errors import ApiError
from serve_app.schemas import OrderOut
from serve_app.stock_client import ShardUnavailable

router = APIRouter(prefix="/api/orders", tags=["orders"])
OrderId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]


async def _find(request: Request, order_id: str, who: Principal) -> tuple[str, int, dict[str, Any]]:
    """(deal id, shard, reservation) of the caller's order; 404 for anyone else's."""
    redis = request.app.state.backends.redis
    not_yours = ApiError(404, "unknown_order", f"no order {order_id}")
    where = await redis.hget(keys.ORDER_INDEX, order_id)
    if where is None:
        raise not_yours
    deal_id, _, shard = where.decode().rpartition(":")
    raw = await redis.hget(keys.reservations(deal_id, int(shard)), order_id)
    if raw is None:
        raise not_yours
    r: dict[str, Any] = json.loads(raw)
    if r["user_id"] != who.user_id:
        raise not_yours  # someone else's order does not exist for you
    return deal_id, int(shard), r


_REFUSALS = {
    Refusal.UNKNOWN_ORDER: (404, "unknown_order", "no such order"),
    Refusal.ORDER_CANCELLED: (
        409,
        "order_cancelled",
        "this order was cancelled; its stock is back on sale",
    ),
    Refusal.ORDER_PAID: (409, "order_paid", "this order is paid and cannot be cancelled"),
}


async def _settle(request: Request, order_id: str, who: Principal, action: str) -> dict[str, str]:
    state = request.app.state
    deal_id, shard, r = await _find(request, order_id, who)
    deal = await state.catalog.deal(deal_id)
    if deal is None:
        raise ApiError(404, "unknown_order", f"no order {order_id}")
    try:
        if action == "pay":
            if r["status"] == "reserved" and not await state.payments.charge(
                order_id, who.user_id, r["quantity"] * deal.price_cents
            ):
                raise ApiError(402, "payment_declined", "the payment was declined")
            outcome = await state.stock.pay(deal, shard, order_id, who.user_id)
        else:
            outcome = await state.stock.cancel(deal, shard, order_id, who.user_id)
    except ShardUnavailable:
        raise ApiError(503, "unavailable", "please retry") from None
    if isinstance(outcome, Refused):
        raise ApiError(*_REFUSALS[outcome.reason])
    return {"order_id": order_id, "status": outcome.reservation.status.value}


@router.post("/{order_id}/pay", summary="Pay a reserved order (paying twice is fine)")
async def pay(
    order_id: OrderId, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, str]:
    return await _settle(request, order_id, who, "pay")


@router.post("/{order_id}/cancel", summary="Cancel a reserved order; its stock goes back on sale")
async def cancel(
    order_id: OrderId, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, str]:
    return await _settle(request, order_id, who, "cancel")


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(
    order_id: OrderId, request: Request, who: Annotated[Principal, Depends(principal)]
) -> dict[str, object]:
    state = request.app.state
    deal_id, _, r = await _find(request, order_id, who)
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
