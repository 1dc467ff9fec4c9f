"""Accounts in MySQL: register, look up for login, and create an admin."""

from __future__ import annotations

import uuid

import pymysql

from serve_app.backends import Backends
from serve_app.errors import ApiError

_DUPLICATE_KEY = 1062


async def create_user(b: Backends, username: str, password_hash: str, role: str = "buyer") -> str:
    user_id = str(uuid.uuid4())
    try:
        await b.execute(
            "INSERT INTO users (user_id, username, password_hash, role) VALUES (%s, %s, %s, %s)",
            (user_id, username, password_hash, role),
        )
    except pymysql.err.IntegrityError as exc:
        if exc.args and exc.args[0] == _DUPLICATE_KEY:
            raise ApiError(409, "username_taken", f"the username {username!r} is taken") from None
        raise
    return user_id


async def find_user(b: Backends, username: str) -> tuple[str, str, str] | None:
    """(user_id, password_hash, role) of the user, or None."""
    rows = await b.query(
        "SELECT user_id, password_hash, role FROM users WHERE username = %s", (username,)
    )
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None
