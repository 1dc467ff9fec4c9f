"""A buyer's order: read, pay, cancel (serve_app/services/orders.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serve_app.contract import SECURED, failures
from serve_app.deps import Buyer, ShopDep
from serve_app.errors import ApiError
from serve_app.schemas import OrderOut
from serve_app.services.outcomes import Failure
from serve_app.timefmt import iso

router = APIRouter(prefix="/api/orders", tags=["orders"])
OrderId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]


@router.post(
    "/{order_id}/pay",
    summary="Pay a reserved order (paying twice is fine)",
    operation_id="payOrder",
    openapi_extra=SECURED,
    responses=failures(401, 404, 409, 422, 503, _404="unknown_order", _409="order_cancelled"),
)
async def pay(order_id: OrderId, shop: ShopDep, who: Buyer) -> dict[str, str]:
    status = await shop.orders.pay(who.user_id, order_id)
    if isinstance(status, Failure):
        raise ApiError.of(status)
    return {"order_id": order_id, "status": status.value}


@router.post(
    "/{order_id}/cancel",
    summary="Cancel a reserved order; its stock goes back on sale",
    operation_id="cancelOrder",
    openapi_extra=SECURED,
    responses=failures(401, 404, 409, 422, 503, _404="unknown_order", _409="order_paid"),
)
async def cancel(order_id: OrderId, shop: ShopDep, who: Buyer) -> dict[str, str]:
    status = await shop.orders.cancel(who.user_id, order_id)
    if isinstance(status, Failure):
        raise ApiError.of(status)
    return {"order_id": order_id, "status": status.value}


@router.get(
    "/{order_id}",
    response_model=OrderOut,
    operation_id="getOrder",
    openapi_extra=SECURED,
    responses=failures(401, 404, 422, 503, _404="unknown_order"),
)
async def get_order(order_id: OrderId, shop: ShopDep, who: Buyer) -> dict[str, object]:
    found = await shop.orders.find(who.user_id, order_id)
    if isinstance(found, Failure):
        raise ApiError.of(found)
    r = found.reservation
    return {
        "order_id": order_id,
        "deal_id": found.deal.deal_id,
        "quantity": r.quantity,
        "amount_cents": found.amount_cents,
        "status": r.status.value,
        "pay_by": iso(r.pay_by),
        "created_at": iso(r.created_at),
    }
