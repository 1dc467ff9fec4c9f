"""Request dependencies: the shop's use cases, who is asking (bearer token), and may they.

``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a thread pool, and
that hand-off cost more than all the rest of the purchase route (bench profile).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from serve_app.auth import Principal, authenticate
from serve_app.bootstrap import Shop
from serve_app.errors import ApiError


async def shop(request: Request) -> Shop:
    found: Shop = request.app.state.shop
    return found


async def principal(request: Request) -> Principal:
    found = authenticate(request.app.state.shop.tokens, request.headers.get("authorization", ""))
    if isinstance(found, str):
        raise ApiError(401, "unauthorized", found, {"WWW-Authenticate": "Bearer"})
    return found


async def admin(request: Request) -> Principal:
    who = await principal(request)
    if not who.is_admin:
        raise ApiError(403, "forbidden", "this needs an admin")
    return who


ShopDep = Annotated[Shop, Depends(shop)]
Buyer = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
