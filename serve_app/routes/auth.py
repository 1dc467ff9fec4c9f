"""Register and log in (serve_app/services/accounts.py)."""

from __future__ import annotations

from fastapi import APIRouter

from serve_app.contract import failures
from serve_app.deps import ShopDep
from serve_app.errors import ApiError
from serve_app.schemas import Credentials, TokenOut, UserCreated
from serve_app.services.outcomes import Failure
from serve_app.timefmt import iso

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=201,
    response_model=UserCreated,
    operation_id="register",
    responses=failures(409, 413, 422, 503, _409="username_taken"),
)
async def register(body: Credentials, shop: ShopDep) -> dict[str, str]:
    user_id = await shop.accounts.register(body.username, body.password)
    if isinstance(user_id, Failure):
        raise ApiError.of(user_id)
    return {"user_id": user_id}


@router.post(
    "/login",
    response_model=TokenOut,
    operation_id="login",
    responses=failures(401, 413, 422, 503, bearer=False, _401="bad_credentials"),
)
async def login(body: Credentials, shop: ShopDep) -> dict[str, str]:
    found = await shop.accounts.login(body.username, body.password)
    if isinstance(found, Failure):
        raise ApiError.of(found)
    token, expires = found
    return {"token": token, "expires_at": iso(expires)}
