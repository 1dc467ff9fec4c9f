"""``POST /api/deals/{id}/purchase``: the hot path, kept lean on purpose.

FastAPI's parameter and body machinery cost a large share of this route's budget
(docs/design.md, performance notes), so the route reads the request itself and states
its contract for OpenAPI by hand. The checks run cheapest first, and everything that can
be answered without an actor is: bad input, auth, rate, window, sold out.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from actors.adapters import redis_keys as keys
from actors.domain.ledger import Accepted, Refusal
from actors.shard import ReserveRequest
from serve_app.catalog import iso
from serve_app.deps import principal
from serve_app.errors import error_response
from serve_app.schemas import PurchaseIn, PurchaseOut
from serve_app.stock_client import PurchaseItem, ShardUnavailable

router = APIRouter(tags=["deals"])

_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_QUANTITY = 1000
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
_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "deal_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": _ID.pattern},
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "description": "Repeat it to retry: the first answer comes back (200), never a second order.",
            "schema": {"type": "string", "pattern": f"^{_KEY.pattern}$"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PurchaseIn.model_json_schema()}},
    },
    "security": [{"bearer": []}],
}


def _refused(reason: Refusal) -> JSONResponse:
    return error_response(*_REFUSALS[reason])


def _reserved(order_id: str, pay_by: float, replayed: bool) -> JSONResponse:
    return JSONResponse(
        {"order_id": order_id, "status": "reserved", "pay_by": iso(pay_by)},
        status_code=200 if replayed else 201,
    )


def _quantity(raw: bytes) -> int | str:
    """The quantity, or why the body is not acceptable."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(body, dict) or set(body) != {"quantity"}:
        return 'the body must be {"quantity": <integer>} and nothing else'
    quantity = body["quantity"]
    if type(quantity) is not int:  # not bool, not float, not "2"
        return "quantity must be an integer"
    if not 1 <= quantity <= _MAX_QUANTITY:
        return f"quantity must be between 1 and {_MAX_QUANTITY}"
    return quantity


@router.post(
    "/api/deals/{deal_id}/purchase",
    status_code=201,
    response_model=PurchaseOut,
    summary="Reserve units of a deal; pay within the payment window",
    openapi_extra=_OPENAPI,
    responses={
        200: {"description": "a repeated Idempotency-Key: the first answer again"},
        401: {"description": "unauthorized"},
        404: {"description": "unknown_deal"},
        409: {"description": "not_started, ended or limit_exceeded"},
        410: {"description": "sold_out"},
        422: {"description": "invalid_request"},
        429: {"description": "rate_limited (Retry-After)"},
        503: {"description": "unavailable: retry with the same Idempotency-Key"},
    },
)
async def purchase(request: Request) -> Response:
    state = request.app.state
    who = await principal(request)
    deal_id = request.path_params["deal_id"]
    key = request.headers.get("idempotency-key", "")
    if not _KEY.fullmatch(key):
        return error_response(
            422, "invalid_request", "Idempotency-Key must be 1-64 of [A-Za-z0-9_-]"
        )
    quantity = _quantity(await request.body())
    if isinstance(quantity, str):
        return error_response(422, "invalid_request", quantity)
    retry_after = await state.protection.admit(who.user_id)
    if retry_after is not None:
        return error_response(
            429, "rate_limited", "too many requests", {"Retry-After": str(int(retry_after))}
        )
    deal = await state.catalog.deal(deal_id) if _ID.fullmatch(deal_id) else None
    if deal is None:
        return error_response(404, "unknown_deal", f"no deal {deal_id}")
    now = time.time()
    if now < deal.starts_ts:
        return error_response(409, "not_started", f"this deal starts at {iso(deal.starts_ts)}")
    ended = now >= deal.ends_ts
    if ended or state.sold_out.is_sold_out(deal_id):
        # No actor call for these; a repeated key still gets its first answer.
        first = await state.sold_out.first_answer(deal_id, who.user_id, key)
        if first is not None:
            return _reserved(*keys.parse_answer(first), replayed=True)
        return (
            error_response(409, "ended", "this deal has ended")
            if ended
            else _refused(Refusal.SOLD_OUT)
        )
    if quantity > deal.per_user_limit:
        return _refused(Refusal.LIMIT_EXCEEDED)
    try:
        await state.stock.preheat(deal)
        result = await state.purchaser.reserve(
            PurchaseItem(deal, ReserveRequest(who.user_id, quantity, key))
        )
    except ShardUnavailable:
        return error_response(503, "unavailable", "please retry with the same Idempotency-Key")
    outcome = result.outcome
    if isinstance(outcome, Accepted):
        return _reserved(outcome.reservation.order_id, outcome.reservation.pay_by, outcome.replayed)
    if result.uncertain:
        return error_response(503, "unavailable", "please retry with the same Idempotency-Key")
    if result.deal_sold_out:
        await state.sold_out.mark(deal_id)
    return _refused(outcome.reason)
