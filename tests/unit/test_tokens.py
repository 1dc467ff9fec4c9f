"""TokenVerifier and the bearer parser: which tokens name a caller, and for how long the
cache of verified tokens believes them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from serve_app import auth
from serve_app.auth import Principal, TokenVerifier, authenticate, issue_token

SECRET = "s" * 64  # long enough for HS512 too, so only the algorithm differs


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens the verifier really decoded (a cache miss each)."""
    seen: list[str] = []
    real: Callable[..., Any] = auth.jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    return seen


def token(user_id: str = "u1", role: str = "buyer", ttl_s: int = 3600) -> tuple[str, int]:
    return issue_token(SECRET, user_id, role, ttl_s)


def test_a_valid_token_names_its_user_and_role() -> None:
    verifier = TokenVerifier(SECRET)
    buyer, _ = token("u1", "buyer")
    admin, _ = token("boss", "admin")
    assert verifier.verify(buyer) == Principal("u1", "buyer")
    found = verifier.verify(admin)
    assert found == Principal("boss", "admin") and found.is_admin


def test_a_verified_token_is_answered_from_the_cache(decodes: list[str]) -> None:
    verifier = TokenVerifier(SECRET)
    t, _ = token()
    assert [verifier.verify(t) for _ in range(3)] == [Principal("u1", "buyer")] * 3
    assert decodes == [t]


def test_a_cached_token_stops_verifying_at_its_exp(decodes: list[str]) -> None:
    verifier = TokenVerifier(SECRET)
    t, exp = token(ttl_s=60)
    assert verifier.verify(t, now=exp - 60) == Principal("u1", "buyer")
    assert verifier.verify(t, now=exp - 0.001) == Principal("u1", "buyer")
    assert verifier.verify(t, now=exp) is None
    assert decodes == [t]  # the cache said no, not the signature check


def signed(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm)


NOW = int(time.time())


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(issue_token("o" * 64, "u1", "buyer", 60)[0], id="other-secret"),
        pytest.param(issue_token(SECRET, "u1", "buyer", 60, now=NOW - 3600)[0], id="expired"),
        pytest.param(issue_token(SECRET, "u1", "root", 3600)[0], id="unknown-role"),
        pytest.param(signed({"role": "buyer", "exp": NOW + 3600}), id="no-sub"),
        pytest.param(signed({"sub": "", "role": "buyer", "exp": NOW + 3600}), id="empty-sub"),
        pytest.param(signed({"sub": "u" * 65, "role": "buyer", "exp": NOW + 3600}), id="long-sub"),
        pytest.param(signed({"sub": "u1", "exp": NOW + 3600}), id="no-role"),
        pytest.param(signed({"sub": "u1", "role": "buyer"}), id="no-exp"),
        pytest.param(
            signed({"sub": "u1", "role": "buyer", "exp": NOW + 3600}, algorithm="HS512"),
            id="other-algorithm",
        ),
        pytest.param(
            jwt.encode({"sub": "u1", "role": "buyer", "exp": NOW + 3600}, None, "none"),
            id="alg-none",
        ),
        pytest.param("not.a.token", id="garbage"),
    ],
)
def test_a_token_that_is_not_ours_or_not_valid_names_nobody(bad: str) -> None:
    verifier = TokenVerifier(SECRET)
    assert verifier.verify(bad) is None
    assert verifier.verify(bad) is None  # and is not remembered as valid


def test_the_longest_sub_allowed_is_64_characters() -> None:
    t = signed({"sub": "u" * 64, "role": "buyer", "exp": NOW + 3600})
    assert TokenVerifier(SECRET).verify(t) == Principal("u" * 64, "buyer")


def test_the_cache_is_bounded_and_evicts_the_oldest(decodes: list[str]) -> None:
    verifier = TokenVerifier(SECRET, max_entries=2)
    t1, t2, t3 = (token(f"u{i}")[0] for i in (1, 2, 3))
    for t in (t1, t2, t3):
        verifier.verify(t)
    decodes.clear()
    assert verifier.verify(t2) == Principal("u2", "buyer")
    assert verifier.verify(t3) == Principal("u3", "buyer")
    assert decodes == []  # both still cached
    assert verifier.verify(t1) == Principal("u1", "buyer")
    assert decodes == [t1]  # t1 was evicted, so it was checked again


def test_the_token_evicted_is_the_one_used_least_recently(decodes: list[str]) -> None:
    verifier = TokenVerifier(SECRET, max_entries=2)
    hot, cold, new = (token(u)[0] for u in ("hot", "cold", "new"))
    verifier.verify(hot)
    verifier.verify(cold)
    verifier.verify(hot)  # used again: now the most recent
    verifier.verify(new)  # one too many: "cold" should go
    decodes.clear()
    verifier.verify(hot)
    assert decodes == []


# -- authenticate ----------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dTE6cHc=", "Token abc"])
def test_without_a_bearer_token_the_reason_says_one_is_required(header: str) -> None:
    assert authenticate(TokenVerifier(SECRET), header) == "a bearer token is required"


def test_a_bearer_token_that_does_not_verify_is_invalid_or_expired() -> None:
    expired, _ = issue_token(SECRET, "u1", "buyer", 60, now=NOW - 3600)
    verifier = TokenVerifier(SECRET)
    for t in ["garbage", expired]:
        assert authenticate(verifier, f"Bearer {t}") == "the token is invalid or expired"


def test_a_good_bearer_header_names_the_caller_whatever_the_scheme_case() -> None:
    t, _ = token("u9")
    verifier = TokenVerifier(SECRET)
    assert authenticate(verifier, f"Bearer {t}") == Principal("u9", "buyer")
    assert authenticate(verifier, f"bearer  {t} ") == Principal("u9", "buyer")
