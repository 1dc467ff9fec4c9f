"""``POST /api/deals/{id}/purchase``: the contract (for OpenAPI) and the translation.

``purchase_answer`` takes the raw parts of the request and returns the answer: it checks what
only HTTP knows (the bearer token, the Idempotency-Key, the body), calls the use case
(serve_app/services/purchase.py) and maps its outcome. The FastAPI route below and the
fast path (serve_app/fast_path.py, which answers the same requests below FastAPI) both
call it, so the two cannot disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from actors.domain.deals import MAX_QUANTITY
from serve_app.auth import authenticate
from serve_app.bootstrap import Shop
from serve_app.contract import SECURED, failures, link
from serve_app.errors import describe, error_body
from serve_app.schemas import PurchaseIn, PurchaseOut, whole_number
from serve_app.services.outcomes import REFUSALS, Failure, refused
from serve_app.services.purchase import (
    DEAL_ID,
    ENDED,
    LIMIT_EXCEEDED,
    SOLD_OUT,
    UNAVAILABLE,
    Reserved,
)
from serve_app.timefmt import iso

router = APIRouter(tags=["deals"])

_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "deal_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": DEAL_ID.pattern},
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
    **SECURED,
}


_ORDER_LINKS = {
    name: link(operation, "order_id", "$response.body#/order_id")
    for name, operation in (
        ("GetOrder", "getOrder"),
        ("PayOrder", "payOrder"),
        ("CancelOrder", "cancelOrder"),
    )
}


class Answer(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, error_body(code, message), headers)


_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
# Failures without a detail answer the same every time: described once, not per request.
_ANSWERS = {
    f: Answer(*describe(f))
    for f in (UNAVAILABLE, ENDED, SOLD_OUT, LIMIT_EXCEEDED, *(refused(r) for r in REFUSALS))
}


def _failed(failure: Failure) -> Answer:
    return _ANSWERS.get(failure) or Answer(*describe(failure))


def _quantity(raw: bytes) -> int | str:
    """The quantity, or why the body is not acceptable."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(body, dict) or set(body) != {"quantity"}:
        return 'the body must be {"quantity": <integer>} and nothing else'
    quantity = whole_number(body["quantity"])
    if quantity is None:  # not bool, not 1.5, not "2"
        return "quantity must be an integer"
    if not 1 <= quantity <= MAX_QUANTITY:
        return f"quantity must be between 1 and {MAX_QUANTITY}"
    return quantity


async def purchase_answer(
    shop: Shop, authorization: str, deal_id: str, key: str, raw: bytes
) -> Answer:
    who = authenticate(shop.tokens, authorization)
    if isinstance(who, str):
        return error(401, "unauthorized", who, _UNAUTHORIZED)
    if not _KEY.fullmatch(key):
        return error(422, "invalid_request", "Idempotency-Key must be 1-64 of [A-Za-z0-9_-]")
    quantity = _quantity(raw)
    if isinstance(quantity, str):
        return error(422, "invalid_request", quantity)
    outcome = await shop.purchases.purchase(who.user_id, deal_id, key, quantity)
    if isinstance(outcome, Reserved):
        return Answer(
            200 if outcome.replayed else 201,
            {"order_id": outcome.order_id, "status": "reserved", "pay_by": iso(outcome.pay_by)},
        )
    return _failed(outcome)


@router.post(
    "/api/deals/{deal_id}/purchase",
    status_code=201,
    response_model=PurchaseOut,
    summary="Reserve units of a deal; pay within the payment window",
    openapi_extra=_OPENAPI,
    operation_id="purchase",
    responses={
        201: {"description": "reserved", "links": _ORDER_LINKS},
        200: {
            "description": "a repeated Idempotency-Key: the first answer again",
            "model": PurchaseOut,
            "links": _ORDER_LINKS,
        },
        **failures(
            401,
            404,
            409,
            410,
            413,
            422,
            429,
            503,
            _404="unknown_deal",
            _409="not_started, ended or limit_exceeded",
            _410="sold_out",
        ),
    },
)
async def purchase(request: Request) -> Response:
    answer = await purchase_answer(
        request.app.state.shop,
        request.headers.get("authorization", ""),
        request.path_params["deal_id"],
        request.headers.get("idempotency-key", ""),
        await request.body(),
    )
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)
