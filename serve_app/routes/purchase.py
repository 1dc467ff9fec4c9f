"""``POST /api/deals/{id}/purchase``: the hot path, kept lean on purpose.

``decide`` holds the whole route: it takes the raw parts of the request and returns the
answer, so it serves both the FastAPI route (which also states the contract for OpenAPI
by hand) and ``PurchaseFastPath``, which answers the same requests below FastAPI's
router and middleware stack: that plumbing cost more than the route's own work
(docs/design.md, "Performance"). The checks run cheapest first, and everything that can
be answered without an actor is: bad input, auth, rate, window, sold out.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from actors.adapters import redis_keys as keys
from actors.domain.ledger import Accepted, Refusal
from actors.shard import ReserveRequest
from serve_app.catalog import iso
from serve_app.errors import error_body
from serve_app.schemas import PurchaseIn, PurchaseOut
from serve_app.stock_client import ShardUnavailable

router = APIRouter(tags=["deals"])
logger = logging.getLogger("flashsale.http")
PATH = re.compile(r"/api/deals/([^/]+)/purchase")

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


class Answer(NamedTuple):
    status: int
    body: dict[str, Any]
    headers: dict[str, str] | None = None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, error_body(code, message), headers)


_REFUSED = {reason: _error(*args) for reason, args in _REFUSALS.items()}
_UNAVAILABLE = _error(503, "unavailable", "please retry with the same Idempotency-Key")
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _reserved(order_id: str, pay_by: float, replayed: bool) -> Answer:
    return Answer(
        200 if replayed else 201,
        {"order_id": order_id, "status": "reserved", "pay_by": iso(pay_by)},
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


async def decide(state: Any, authorization: str, deal_id: str, key: str, raw: bytes) -> Answer:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "unauthorized", "a bearer token is required", _UNAUTHORIZED)
    who = state.tokens.verify(token.strip())
    if who is None:
        return _error(401, "unauthorized", "the token is invalid or expired", _UNAUTHORIZED)
    if not _KEY.fullmatch(key):
        return _error(422, "invalid_request", "Idempotency-Key must be 1-64 of [A-Za-z0-9_-]")
    quantity = _quantity(raw)
    if isinstance(quantity, str):
        return _error(422, "invalid_request", quantity)
    retry_after = await state.protection.admit(who.user_id)
    if retry_after is not None:
        return _error(
            429, "rate_limited", "too many requests", {"Retry-After": str(int(retry_after))}
        )
    deal = await state.catalog.deal(deal_id) if _ID.fullmatch(deal_id) else None
    if deal is None:
        return _error(404, "unknown_deal", f"no deal {deal_id}")
    now = time.time()
    if now < deal.starts_ts:
        return _error(409, "not_started", f"this deal starts at {iso(deal.starts_ts)}")
    ended = now >= deal.ends_ts
    if ended or state.sold_out.is_sold_out(deal_id):
        # No actor call for these; a repeated key still gets its first answer.
        first = await state.sold_out.first_answer(deal_id, who.user_id, key)
        if first is not None:
            return _reserved(*keys.parse_answer(first), replayed=True)
        return _error(409, "ended", "this deal has ended") if ended else _REFUSED[Refusal.SOLD_OUT]
    if quantity > deal.per_user_limit:
        return _REFUSED[Refusal.LIMIT_EXCEEDED]
    try:
        await state.stock.preheat(deal)
        result = await state.purchaser.reserve(deal, ReserveRequest(who.user_id, quantity, key))
    except ShardUnavailable:
        return _UNAVAILABLE
    outcome = result.outcome
    if isinstance(outcome, Accepted):
        return _reserved(outcome.reservation.order_id, outcome.reservation.pay_by, outcome.replayed)
    if result.uncertain:
        return _UNAVAILABLE
    if result.deal_sold_out:
        await state.sold_out.mark(deal_id)
    return _REFUSED[outcome.reason]


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
    answer = await decide(
        request.app.state,
        request.headers.get("authorization", ""),
        request.path_params["deal_id"],
        request.headers.get("idempotency-key", ""),
        await request.body(),
    )
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


class PurchaseFastPath:
    """ASGI in front of the FastAPI app: purchases are answered here, the rest passes on.

    It does what the app's middleware would for this one route: the body size limit,
    and a JSON 500 for an unexpected error.
    """

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app
        self._state = app.state
        self._max = max_body_bytes
        self._too_large = _error(
            413, "body_too_large", f"request bodies are limited to {max_body_bytes} bytes"
        )

    def __getattr__(self, name: str) -> Any:
        # Serve registers its own exception handlers on the app it is given.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(scope, receive, match.group(1))
        except Exception:
            logger.exception("unhandled error on a purchase")
            answer = _error(500, "internal_error", "something went wrong on our side")
        payload = json.dumps(answer.body, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if answer.headers:
            headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, receive: Receive, deal_id: str) -> Answer:
        authorization = key = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                key = value.decode("latin-1")
            elif name == b"content-length" and (not value.isdigit() or int(value) > self._max):
                return self._too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":
                return _error(400, "bad_request", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                return self._too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await decide(self._state, authorization, deal_id, key, b"".join(chunks))
