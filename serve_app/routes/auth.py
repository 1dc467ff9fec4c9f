"""Register and log in. Hashing is slow on purpose, so it runs off the event loop."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from serve_app.auth import hash_password, issue_token, verify_password
from serve_app.catalog import iso
from serve_app.errors import ApiError
from serve_app.schemas import Credentials, TokenOut, UserCreated
from serve_app.users import create_user, find_user

router = APIRouter(prefix="/api/auth", tags=["auth"])

# Verifying against this when the user does not exist keeps both answers equally slow.
_DECOY_HASH = hash_password("decoy password, never valid")


@router.post("/register", status_code=201, response_model=UserCreated)
async def register(body: Credentials, request: Request) -> dict[str, str]:
    hashed = await asyncio.to_thread(hash_password, body.password)
    user_id = await create_user(request.app.state.backends, body.username, hashed)
    return {"user_id": user_id}


@router.post("/login", response_model=TokenOut)
async def login(body: Credentials, request: Request) -> dict[str, str]:
    found = await find_user(request.app.state.backends, body.username)
    stored = found[1] if found else _DECOY_HASH
    ok = await asyncio.to_thread(verify_password, body.password, stored)
    if not found or not ok:
        raise ApiError(401, "bad_credentials", "wrong username or password")
    settings = request.app.state.settings
    token, expires = issue_token(settings.jwt_secret, found[0], found[2], settings.jwt_ttl_s)
    return {"token": token, "expires_at": iso(expires)}
