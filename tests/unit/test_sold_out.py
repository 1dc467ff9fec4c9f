"""SoldOutBoard over a fake answer store: when a deal counts as sold out, and where a
repeated key's first answer comes from."""

from __future__ import annotations

import asyncio

import pytest

from actors.adapters import redis_keys
from actors.adapters.redis_deals import FirstAnswers
from serve_app.services import sold_out
from serve_app.services.sold_out import SoldOutBoard

PAY_BY = 1_900_000_900.0


class FakeAnswers:
    """A deal's first answers, as the Redis hash holds them, with what was asked of it."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.single_lookups = 0
        self.snapshots = 0
        self.gate: asyncio.Event | None = None  # when set, snapshots wait for it
        self.began = asyncio.Event()  # a snapshot is under way

    async def first_answer(self, deal_id: str, user_id: str, key: str) -> tuple[str, float] | None:
        self.single_lookups += 1
        return self.known.get((deal_id, user_id, key))

    async def first_answers(self, deal_id: str, at_most: int) -> FirstAnswers | None:
        self.snapshots += 1
        self.began.set()
        if self.gate is not None:
            await self.gate.wait()
        raw = {
            redis_keys.answer_field(user, key).encode(): f"{order}:{pay_by}".encode()
            for (deal, user, key), (order, pay_by) in self.known.items()
            if deal == deal_id
        }
        return None if len(raw) > at_most else FirstAnswers(raw)


class FakeMonotonic:
    """Stands in for the ``time`` module inside sold_out.py only (asyncio keeps the real one)."""

    def __init__(self) -> None:
        self.t = 500.0

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(sold_out, "time", fake)
    return fake


async def test_a_deal_is_not_sold_out_until_marked() -> None:
    board = SoldOutBoard(FakeAnswers())
    assert not board.is_sold_out("d-1")
    await board.mark("d-1")
    assert board.is_sold_out("d-1")
    assert not board.is_sold_out("d-2")


async def test_before_a_mark_first_answers_are_asked_of_the_store() -> None:
    store = FakeAnswers()
    store.known[("d-1", "u1", "k1")] = ("o-1", PAY_BY)
    board = SoldOutBoard(store)
    assert await board.first_answer("d-1", "u1", "k1") == ("o-1", PAY_BY)
    assert await board.first_answer("d-1", "u1", "k2") is None
    assert (store.single_lookups, store.snapshots) == (2, 0)


async def test_after_a_mark_first_answers_come_from_the_snapshot() -> None:
    store = FakeAnswers()
    store.known[("d-1", "u1", "k1")] = ("o-1", PAY_BY)
    store.known[("d-1", "u2", "k1")] = ("o-2", PAY_BY + 1)
    board = SoldOutBoard(store)
    await board.mark("d-1")
    assert await board.first_answer("d-1", "u1", "k1") == ("o-1", PAY_BY)
    assert await board.first_answer("d-1", "u2", "k1") == ("o-2", PAY_BY + 1)
    assert await board.first_answer("d-1", "u1", "k9") is None
    assert store.single_lookups == 0
    assert store.snapshots == 1


async def test_an_order_made_after_the_snapshot_is_not_in_it() -> None:
    # Documented: a buyer whose order was made after the snapshot may be told sold out
    # while the flag lasts.
    store = FakeAnswers()
    board = SoldOutBoard(store)
    await board.mark("d-1")
    store.known[("d-1", "u1", "k1")] = ("o-1", PAY_BY)
    assert await board.first_answer("d-1", "u1", "k1") is None


async def test_a_snapshot_too_large_to_take_leaves_repeats_to_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sold_out, "MAX_SNAPSHOT", 2)
    store = FakeAnswers()
    for i in range(3):
        store.known[("d-1", f"u{i}", "k")] = (f"o-{i}", PAY_BY)
    board = SoldOutBoard(store)
    await board.mark("d-1")
    assert board.is_sold_out("d-1")  # flagged all the same
    assert await board.first_answer("d-1", "u0", "k") == ("o-0", PAY_BY)
    assert await board.first_answer("d-1", "u2", "k") == ("o-2", PAY_BY)
    assert store.single_lookups == 2


async def test_a_snapshot_at_the_limit_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sold_out, "MAX_SNAPSHOT", 2)
    store = FakeAnswers()
    for i in range(2):
        store.known[("d-1", f"u{i}", "k")] = (f"o-{i}", PAY_BY)
    board = SoldOutBoard(store)
    await board.mark("d-1")
    assert await board.first_answer("d-1", "u1", "k") == ("o-1", PAY_BY)
    assert store.single_lookups == 0


async def test_the_flag_lasts_ttl_s(clock: FakeMonotonic) -> None:
    board = SoldOutBoard(FakeAnswers(), ttl_s=2.0)
    await board.mark("d-1")
    clock.advance(1.999)
    assert board.is_sold_out("d-1")
    clock.advance(0.001)
    assert not board.is_sold_out("d-1")


async def test_a_mark_after_the_flag_expired_takes_a_fresh_snapshot(
    clock: FakeMonotonic,
) -> None:
    store = FakeAnswers()
    board = SoldOutBoard(store, ttl_s=1.0)
    await board.mark("d-1")
    clock.advance(5)
    store.known[("d-1", "u1", "k1")] = ("o-1", PAY_BY)  # made after a cancel freed stock
    await board.mark("d-1")
    assert board.is_sold_out("d-1")
    assert store.snapshots == 2
    assert await board.first_answer("d-1", "u1", "k1") == ("o-1", PAY_BY)


async def test_once_the_flag_expired_repeats_are_asked_of_the_store_again(
    clock: FakeMonotonic,
) -> None:
    store = FakeAnswers()
    board = SoldOutBoard(store, ttl_s=1.0)
    await board.mark("d-1")
    clock.advance(5)
    assert not board.is_sold_out("d-1")
    store.known[("d-1", "u1", "k1")] = ("o-1", PAY_BY)
    assert await board.first_answer("d-1", "u1", "k1") == ("o-1", PAY_BY)


async def test_concurrent_marks_take_one_snapshot() -> None:
    store = FakeAnswers()
    store.gate = asyncio.Event()
    board = SoldOutBoard(store)
    marks = [asyncio.create_task(board.mark("d-1")) for _ in range(5)]
    await asyncio.sleep(0)
    assert not board.is_sold_out("d-1")  # not until the snapshot is in
    store.gate.set()
    await asyncio.gather(*marks)
    assert store.snapshots == 1
    assert board.is_sold_out("d-1")


async def test_a_cancelled_mark_leaves_the_snapshot_to_finish() -> None:
    store = FakeAnswers()
    store.gate = asyncio.Event()
    board = SoldOutBoard(store)
    first = asyncio.create_task(board.mark("d-1"))
    await store.began.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    store.gate.set()
    await board.mark("d-1")  # joins the snapshot still under way
    assert store.snapshots == 1
    assert board.is_sold_out("d-1")


async def test_a_snapshot_that_fails_still_flags_the_deal_and_repeats_ask_the_store(
    clock: FakeMonotonic,
) -> None:
    """Redis away when the deal runs dry (its breaker open): the shard's answer stands,
    so the mark neither raises nor leaves the deal unflagged."""
    store = FakeAnswers()
    store.known[("d", "u1", "k1")] = ("o1", PAY_BY)

    async def refused(deal_id: str, at_most: int) -> FirstAnswers | None:
        raise ConnectionError("redis away (fake)")

    store.first_answers = refused  # type: ignore[method-assign]
    board = SoldOutBoard(store, ttl_s=1.0)
    await board.mark("d")
    assert board.is_sold_out("d")
    assert await board.first_answer("d", "u1", "k1") == ("o1", PAY_BY)
    assert store.single_lookups == 1
