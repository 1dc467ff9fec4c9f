"""Request dependencies: who is asking (bearer token), and may they.

``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool, and
that hand-off cost more than all the rest of the purchase route (bench profile).
"""

from __future__ import annotations

from fastapi import Request

from serve_app.auth import Principal
from serve_app.errors import ApiError


async def principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401, "unauthorized", "a bearer token is required", {"WWW-Authenticate": "Bearer"}
        )
    found = request.app.state.tokens.verify(token.strip())
    if found is None:
        raise ApiError(
            401, "unauthorized", "the token is invalid or expired", {"WWW-Authenticate": "Bearer"}
        )
    return found


async def admin(request: Request) -> Principal:
    who = await principal(request)
    if not who.is_admin:
        raise ApiError(403, "forbidden", "this needs an admin")
    return who
