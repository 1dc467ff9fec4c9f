"""What the OpenAPI document promises besides success: every error status a route can
answer (with the one error shape and the headers that come with it), the bearer scheme,
and the links from a created resource to the routes that use it.

Described here once, so that a route names its statuses and an OpenAPI-driven fuzzer
(schemathesis, tests/e2e/test_contract_fuzz.py) holds the server to exactly them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying (at least 1)",
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}, "required": True}
}

# status -> (what it means, headers it always carries)
_STATUSES: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "`unauthorized`: no bearer token, a bad signature, expired, or a bad claim",
        _WWW_AUTHENTICATE,
    ),
    403: ("`forbidden`: this needs an admin", {}),
    404: ("not found", {}),
    409: ("conflict", {}),
    410: ("gone", {}),
    413: ("`body_too_large`", {}),
    422: (
        "`invalid_request`: the request does not match this contract (malformed JSON included)",
        {},
    ),
    429: ("`rate_limited`", _RETRY_AFTER),
    503: (
        "`unavailable`: a dependency is down or its circuit breaker is open; nothing was changed",
        _RETRY_AFTER,
    ),
}

BEARER = "bearer"
SECURED: dict[str, Any] = {"security": [{BEARER: []}]}


def failures(*statuses: int, bearer: bool = True, **codes: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that can answer these error statuses; ``codes`` names
    the error codes of a status (``_404="unknown_deal"``) where it has its own. ``bearer``
    False: a 401 that is not about the bearer token (a wrong password) and so carries no
    ``WWW-Authenticate``."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        meaning, headers = _STATUSES[status]
        if status == 401 and not bearer:
            headers = {}
        named = codes.get(f"_{status}")
        entry: dict[str, Any] = {
            "model": ErrorOut,
            "description": f"`{named}`" if named else meaning,
        }
        if headers:
            entry["headers"] = headers
        found[status] = entry
    return found


# Operation links: the id a response returns, and the operations that take it.
def link(operation_id: str, parameter: str, expression: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {parameter: expression}}


def install_openapi(api: FastAPI) -> None:
    """The generated document, plus the bearer scheme the routes' ``security`` names."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = {
                BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
