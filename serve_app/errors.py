"""Every error leaves as ``{"error": {"code", "message"}}``; the mapping lives here only:
the use cases' failures (serve_app/services/outcomes.py), FastAPI's own errors, and the
faults of a dependency that does not answer."""

from __future__ import annotations

import logging
import math

import pymysql
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.ports import DependencyDown
from serve_app.services.outcomes import Failure, Problem

logger = logging.getLogger("flashsale.http")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


# A dependency that does not answer: the request may succeed if retried later.
UNAVAILABLE = (
    DependencyDown,  # its circuit breaker is open: answered at once
    TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    pymysql.err.OperationalError,
)


class ApiError(Exception):
    """An answer other than success, raised by a route and rendered by one handler."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status, code, message, headers)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    @classmethod
    def of(cls, failure: Failure) -> ApiError:
        status, body, headers = describe(failure)
        return cls(status, body["error"]["code"], body["error"]["message"], headers)


# problem -> (status, code, message); ``{}`` in a message takes the failure's detail.
_PROBLEMS: dict[Problem, tuple[int, str, str]] = {
    Problem.LIMIT_EXCEEDED: (
        409,
        "limit_exceeded",
        "that would take you over this deal's limit per buyer",
    ),
    Problem.SOLD_OUT: (410, "sold_out", "this deal is sold out"),
    Problem.KEY_REUSED: (
        422,
        "invalid_request",
        "this Idempotency-Key was used for another quantity",
    ),
    Problem.UNKNOWN_ORDER: (404, "unknown_order", "no order {}"),
    Problem.ORDER_CANCELLED: (
        409,
        "order_cancelled",
        "this order was cancelled; its stock is back on sale",
    ),
    Problem.ORDER_PAID: (409, "order_paid", "this order is paid and cannot be cancelled"),
    Problem.UNKNOWN_DEAL: (404, "unknown_deal", "no deal {}"),
    Problem.UNKNOWN_PRODUCT: (404, "unknown_product", "no product {}"),
    Problem.NOT_STARTED: (409, "not_started", "this deal starts at {}"),
    Problem.ENDED: (409, "ended", "this deal has ended"),
    Problem.RATE_LIMITED: (429, "rate_limited", "too many requests"),
    Problem.UNAVAILABLE: (503, "unavailable", "please retry with the same Idempotency-Key"),
    Problem.PAYMENT_DECLINED: (402, "payment_declined", "the payment was declined"),
    Problem.INVALID_DEAL: (422, "invalid_request", "{}"),
    Problem.USERNAME_TAKEN: (409, "username_taken", "the username {!r} is taken"),
    Problem.BAD_CREDENTIALS: (401, "bad_credentials", "wrong username or password"),
}


def describe(failure: Failure) -> tuple[int, dict[str, dict[str, str]], dict[str, str] | None]:
    """(status, body, headers) of a use case's failure."""
    status, code, message = _PROBLEMS[failure.problem]
    if "{" in message:
        message = message.format(failure.detail) if failure.detail else code.replace("_", " ")
    elif failure.problem is Problem.UNAVAILABLE and failure.detail:
        message = failure.detail
    headers = None
    if failure.retry_after_s is not None:
        headers = {"Retry-After": str(max(1, math.ceil(failure.retry_after_s)))}
    return status, error_body(code, message), headers


def describe_unavailable(
    exc: Exception,
) -> tuple[int, dict[str, dict[str, str]], dict[str, str]]:
    """(status, body, headers) for one of ``UNAVAILABLE``: 503, retry after the
    breaker's next probe when it is the breaker that answered, else after a second."""
    retry_after_s = exc.retry_after_s if isinstance(exc, DependencyDown) else 1.0
    body = error_body("unavailable", "a part of the shop is unavailable; retry shortly")
    return 503, body, {"Retry-After": str(max(1, math.ceil(retry_after_s)))}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8, say): to a client
            # that is one more malformed body, which the contract answers with 422.
            return error_response(422, "invalid_request", "the body is not valid JSON")
        code = _CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    for kind in UNAVAILABLE:

        @app.exception_handler(kind)
        async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
            logger.warning(
                "%s %s: a backend is unavailable: %r", request.method, request.url.path, exc
            )
            status, body, headers = describe_unavailable(exc)
            return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "something went wrong on our side")
