"""The storefront's deals, and buying one."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse

from actors.adapters import redis_keys as keys
from actors.domain.ledger import Accepted, Refusal, Refused
from actors.shard import ReserveRequest
from serve_app.auth import Principal
from serve_app.catalog import DealRecord, iso
from serve_app.deps import principal
from serve_app.errors import ApiError
from serve_app.schemas import DealOut, PurchaseIn, PurchaseOut
from serve_app.stock_client import PurchaseItem, ShardUnavailable

router = APIRouter(prefix="/api/deals", tags=["deals"])

DealId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]
# A replica that saw a deal sold out answers 410 itself for this long; stock that a
# cancel returns is on sale again after at most this delay.
SOLD_OUT_TTL_S = 1.0
_REFUSALS = {
    Refusal.LIMIT_EXCEEDED: (
        409,
        "limit_exceeded",
        "that would take you over this deal's limit per buyer",
    ),
    Refusal.SOLD_OUT: (410, "sold_out", "this deal is sold out"),
    Refusal.KEY_REUSED: (
        422,
        "invalid_request",
        "this Idempotency-Key was used for another quantity",
    ),
}


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


@router.post(
    "/{deal_id}/purchase",
    status_code=201,
    response_model=PurchaseOut,
    summary="Reserve units of a deal; pay within the payment window",
    responses={
        200: {"description": "a repeated Idempotency-Key: the first answer again"},
        404: {"description": "unknown_deal"},
        409: {"description": "not_started, ended or limit_exceeded"},
        410: {"description": "sold_out"},
        429: {"description": "rate_limited"},
        503: {"description": "unavailable: retry with the same Idempotency-Key"},
    },
)
async def purchase(
    deal_id: DealId,
    body: PurchaseIn,
    request: Request,
    idempotency_key: IdempotencyKey,
    who: Annotated[Principal, Depends(principal)],
) -> JSONResponse:
    state = request.app.state
    retry_after = await state.protection.admit(who.user_id)
    if retry_after is not None:
        raise ApiError(
            429, "rate_limited", "too many requests", {"Retry-After": str(int(retry_after))}
        )
    deal = await known_deal(request, deal_id)
    now = time.time()
    if now < deal.starts_ts:
        raise ApiError(409, "not_started", f"this deal starts at {iso(deal.starts_ts)}")
    if now >= deal.ends_ts or state.sold_out.get(deal_id, 0.0) > time.monotonic():
        # No actor call for these; but a repeated key still gets its first answer.
        first = await state.backends.redis.hget(
            keys.answers(deal_id), keys.answer_field(who.user_id, idempotency_key)
        )
        if first is not None:
            order_id, pay_by = keys.parse_answer(first)
            return _reserved(order_id, pay_by, replayed=True)
        if now >= deal.ends_ts:
            raise ApiError(409, "ended", "this deal has ended")
        raise ApiError(*_REFUSALS[Refusal.SOLD_OUT])
    if body.quantity > deal.per_user_limit:
        raise ApiError(*_REFUSALS[Refusal.LIMIT_EXCEEDED])
    try:
        await state.stock.preheat(deal)
        result = await state.purchaser.reserve(
            PurchaseItem(deal, ReserveRequest(who.user_id, body.quantity, idempotency_key))
        )
    except ShardUnavailable:
        raise ApiError(503, "unavailable", "please retry with the same Idempotency-Key") from None
    outcome = result.outcome
    if isinstance(outcome, Refused):
        if result.deal_sold_out:
            state.sold_out[deal_id] = time.monotonic() + SOLD_OUT_TTL_S
        raise ApiError(*_REFUSALS[outcome.reason])
    assert isinstance(outcome, Accepted)
    return _reserved(outcome.reservation.order_id, outcome.reservation.pay_by, outcome.replayed)


def _reserved(order_id: str, pay_by: float, replayed: bool) -> JSONResponse:
    return JSONResponse(
        {"order_id": order_id, "status": "reserved", "pay_by": iso(pay_by)},
        status_code=200 if replayed else 201,
    )
