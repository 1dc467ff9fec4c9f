import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.domain.deals import (
    Deal,
    DealStatus,
    Product,
    problems,
    shard_for_user,
    split_stock,
)

T0 = 1_893_499_200.0  # 2030-01-01 12:00 UTC
PRODUCT = Product("p-1", "Phone", "", "")


def terms(**overrides) -> Deal:
    values = {
        "deal_id": "d-1",
        "product": PRODUCT,
        "price_cents": 999,
        "stock": 100,
        "per_user_limit": 2,
        "starts_ts": T0,
        "ends_ts": T0 + 3600,
        "shards": 1,
    }
    values.update(overrides)
    return Deal(**values)


def test_good_terms_have_no_problems() -> None:
    assert problems(terms()) == []


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"stock": 0}, "stock"),
        ({"stock": -3}, "stock"),
        ({"per_user_limit": 0}, "per_user_limit"),
        ({"price_cents": -1}, "price_cents"),
        ({"per_user_limit": 1001}, "per_user_limit"),
        ({"shards": 0}, "shards"),
        ({"shards": 65}, "shards"),
        ({"ends_ts": T0}, "ends_at"),
        ({"ends_ts": T0 - 1}, "ends_at"),
        # outside what MySQL's DATETIME holds (fuzzing sent year 83 and got a 500)
        ({"starts_ts": -59_000_000_000.0}, "2000-01-01"),
        ({"ends_ts": 253_402_300_800.0}, "9999-01-01"),
    ],
)
def test_bad_terms_are_named(override: dict, fragment: str) -> None:
    assert any(fragment in p for p in problems(terms(**override)))


def test_status_by_server_time() -> None:
    t = terms()
    assert t.status(T0 - 1, 100) is DealStatus.UPCOMING
    assert t.status(T0, 100) is DealStatus.OPEN
    assert t.status(T0, 0) is DealStatus.SOLD_OUT
    assert t.status(t.ends_ts, 100) is DealStatus.ENDED


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_split_stock_is_exact_and_even(stock: int, shards: int) -> None:
    parts = split_stock(stock, shards)
    assert sum(parts) == stock and len(parts) == shards
    assert max(parts) - min(parts) <= 1


def test_shard_for_user_is_stable_and_spread() -> None:
    assert shard_for_user("user-42", 4) == shard_for_user("user-42", 4)
    seen = {shard_for_user(f"user-{i}", 4) for i in range(200)}
    assert seen == {0, 1, 2, 3}


def test_ulids_sort_by_time_and_have_26_chars() -> None:
    from actors.domain.ids import ulid

    a = ulid(1_000, bytes(10))
    b = ulid(1_001, bytes(10))
    c = ulid(1_001, b"\xff" * 10)
    assert len(a) == 26 and a < b < c
    assert ulid(0, bytes(10)) == "0" * 26
