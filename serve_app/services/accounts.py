"""Accounts: register and log in. Hashing is slow on purpose, so it runs off the event loop."""

from __future__ import annotations

import asyncio
import uuid

from actors.adapters.mysql_catalog import MysqlCatalog
from serve_app.auth import hash_password, issue_token, verify_password
from serve_app.services.outcomes import Failure, Problem

# Verifying against this when the user does not exist keeps both answers equally slow.
_DECOY_HASH = hash_password("decoy password, never valid")


class Accounts:
    def __init__(self, records: MysqlCatalog, jwt_secret: str, jwt_ttl_s: int) -> None:
        self._records = records
        self._secret = jwt_secret
        self._ttl_s = jwt_ttl_s

    async def register(self, username: str, password: str, role: str = "buyer") -> str | Failure:
        hashed = await asyncio.to_thread(hash_password, password)
        user_id = str(uuid.uuid4())
        if not await self._records.insert_user(user_id, username, hashed, role):
            return Failure(Problem.USERNAME_TAKEN, username)
        return user_id

    async def login(self, username: str, password: str) -> tuple[str, int] | Failure:
        """(token, expiry in epoch seconds)."""
        found = await self._records.user(username)
        stored = found[1] if found else _DECOY_HASH
        ok = await asyncio.to_thread(verify_password, password, stored)
        if not found or not ok:
            return Failure(Problem.BAD_CREDENTIALS)
        return issue_token(self._secret, found[0], found[2], self._ttl_s)
