"""Passwords (scrypt, from the standard library) and HS256 tokens (pyjwt), with a small
cache of verified tokens: in a flash sale every buyer retries with the same token, and
verifying it costs about half of a trivial request (docs/design.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

ROLES = ("buyer", "admin")
# scrypt cost: ~50 ms and 16 MiB per hash on these machines; slow for a guesser, and
# only register and login pay it.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def issue_token(
    secret: str, user_id: str, role: str, ttl_s: int, now: float | None = None
) -> tuple[str, int]:
    issued = int(now if now is not None else time.time())
    expires = issued + ttl_s
    token = jwt.encode(
        {"sub": user_id, "role": role, "iat": issued, "exp": expires}, secret, "HS256"
    )
    return token, expires


class TokenVerifier:
    """Verifies tokens, remembering the valid ones until their ``exp`` (bounded LRU)."""

    def __init__(self, secret: str, max_entries: int = 100_000) -> None:
        self._secret = secret
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def verify(self, token: str, now: float | None = None) -> Principal | None:
        moment = now if now is not None else time.time()
        hit = self._cache.get(token)
        if hit is not None:
            principal, expires = hit
            if moment < expires:
                self._cache.move_to_end(token)  # least recently used goes first
                return principal
            del self._cache[token]
            return None
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["sub", "exp", "role"]},
            )
        except jwt.PyJWTError:
            return None
        sub, role, exp = claims.get("sub"), claims.get("role"), claims.get("exp")
        if not isinstance(sub, str) or not sub or len(sub) > 64 or role not in ROLES:
            return None
        principal = Principal(sub, role)
        self._cache[token] = (principal, float(exp))
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return principal


def authenticate(tokens: TokenVerifier, authorization: str) -> Principal | str:
    """The caller named by an ``Authorization: Bearer`` header, or why not (for a 401).
    The one bearer parser, for the routes' dependency and the purchase fast path."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "a bearer token is required"
    found = tokens.verify(token.strip())
    return found if found is not None else "the token is invalid or expired"
