"""PurchaseService over fakes of the ports: every answer it gives, and which of them
reach a shard (the real Purchaser, Catalog, DealLifecycle, SoldOutBoard and RateLimits)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from actors.adapters import redis_keys
from actors.adapters.redis_deals import FirstAnswers
from actors.domain.deals import Deal, shard_for_user
from actors.domain.orders import (
    Accepted,
    OrderStatus,
    Refusal,
    Refused,
    Reservation,
    ReserveRequest,
    ReserveResult,
)
from actors.ports import ShardUnavailable
from actors.services.deal_lifecycle import DealLifecycle
from cluster.settings import Settings
from serve_app.rate_limits import RateLimits
from serve_app.services.catalog import Catalog
from serve_app.services.outcomes import Failure, Problem
from serve_app.services.purchase import Purchaser, PurchaseService, Reserved
from serve_app.services.sold_out import SoldOutBoard
from tests.fakes import FakeClock, deal_of

PAY_BY = 1_900_000_900.0


class FakeShards:
    """Records every reserve call; answers each request with the next scripted result
    (or raises it, for an exception)."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log
        self.script: list[ReserveResult | Exception] = []
        self.calls: list[tuple[str, int, list[ReserveRequest]]] = []
        self.fail_start = 0
        self._started: set[str] = set()

    def started(self, deal_id: str) -> bool:
        return deal_id in self._started

    async def start(self, deal: Deal) -> None:
        self.log.append(("start", deal.deal_id))
        if self.fail_start:
            self.fail_start -= 1
            raise ShardUnavailable("shard did not start (fake)")
        self._started.add(deal.deal_id)

    async def reserve(
        self, deal: Deal, shard: int, requests: list[ReserveRequest]
    ) -> list[ReserveResult]:
        self.log.append(("reserve", deal.deal_id))
        self.calls.append((deal.deal_id, shard, list(requests)))
        results = []
        for _ in requests:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            results.append(answer)
        return results


class FakeDeals:
    """The DealStore port, logging into the same list as the shards (to see the order)."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log

    async def open_pool(self, deal: Deal) -> None:
        self.log.append(("open_pool", deal.deal_id))

    async def cached(self, deal_id: str) -> Deal | None:
        return None

    async def held(self, deal: Deal) -> int:
        return 0

    async def close_outbox(self, deal_id: str) -> None:
        self.log.append(("close_outbox", deal_id))


class FakeTimers:
    async def schedule_many(self, when: dict) -> None:
        pass


class FakeAnswers:
    """First answers by (deal, user, key), with what was asked of them."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.single_lookups = 0
        self.snapshots = 0

    async def first_answer(self, deal_id: str, user_id: str, key: str) -> tuple[str, float] | None:
        self.single_lookups += 1
        return self.known.get((deal_id, user_id, key))

    async def first_answers(self, deal_id: str, at_most: int) -> FirstAnswers | None:
        self.snapshots += 1
        raw = {
            redis_keys.answer_field(user, key).encode(): f"{order}:{pay_by}".encode()
            for (deal, user, key), (order, pay_by) in self.known.items()
            if deal == deal_id
        }
        return None if len(raw) > at_most else FirstAnswers(raw)


class FakeDealCache:
    """The catalogue's Redis side: the deals it was given, and the ids it was asked."""

    def __init__(self, deals: tuple[Deal, ...]) -> None:
        self.deals = {d.deal_id: d for d in deals}
        self.asked: list[str] = []

    async def cached(self, deal_id: str) -> Deal | None:
        self.asked.append(deal_id)
        return self.deals.get(deal_id)

    async def cache(self, deal: Deal) -> None:
        self.deals[deal.deal_id] = deal


class FakeRecords:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def deal(self, deal_id: str) -> Deal | None:
        self.asked.append(deal_id)
        return None


class FakeMetrics:
    """What PurchaseMetrics would export: (outcome, deal) per answer, batch sizes per
    shard call."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []
        self.batches: list[int] = []

    def answered(self, outcome: str, deal: str) -> None:
        self.answers.append((outcome, deal))

    def shard_call(self, batch_size: int, seconds: float) -> None:
        assert seconds >= 0
        self.batches.append(batch_size)


@dataclass
class Shop:
    purchases: PurchaseService
    shards: FakeShards
    answers: FakeAnswers
    board: SoldOutBoard
    cache: FakeDealCache
    records: FakeRecords
    log: list[tuple[str, str]]
    metrics: FakeMetrics

    def reserves(self) -> int:
        return len(self.shards.calls)


def shop(*deals: Deal, per_user_rate: float = 10.0, clock: FakeClock | None = None) -> Shop:
    settings = Settings.from_env(
        {"FLASHSALE_JWT_SECRET": "s" * 32, "FLASHSALE_RATE_LIMIT_PER_USER": str(per_user_rate)}
    )
    log: list[tuple[str, str]] = []
    shards = FakeShards(log)
    lifecycle = DealLifecycle(
        FakeDeals(log),
        shards,
        FakeTimers(),
        FakeClock(),
        preheat_lead_s=settings.preheat_lead_s,
        payment_timeout_s=settings.payment_timeout_s,
    )
    cache, records = FakeDealCache(deals), FakeRecords()
    catalog = Catalog(
        records,  # type: ignore[arg-type]
        cache,  # type: ignore[arg-type]
        lifecycle,
        shards,
        shards_per_deal=settings.shards_per_deal,
        preheat_lead_s=settings.preheat_lead_s,
    )
    answers = FakeAnswers()
    board = SoldOutBoard(answers, ttl_s=60.0)
    metrics = FakeMetrics()
    purchases = PurchaseService(
        catalog,
        lifecycle,
        Purchaser(shards, settings, metrics, (clock or FakeClock()).now),  # type: ignore[arg-type]
        board,
        RateLimits(settings),
        metrics,  # type: ignore[arg-type]
    )
    return Shop(purchases, shards, answers, board, cache, records, log, metrics)


def accepted(order_id: str, user_id: str, key: str, replayed: bool = False) -> ReserveResult:
    reservation = Reservation(order_id, user_id, 1, key, OrderStatus.RESERVED, time.time(), PAY_BY)
    return ReserveResult(Accepted(reservation, replayed))


def refusal(reason: Refusal, *, deal_sold_out: bool = False, uncertain: bool = False):
    return ReserveResult(Refused(reason), deal_sold_out=deal_sold_out, uncertain=uncertain)


SOLD_OUT = Failure(Problem.SOLD_OUT)


# -- answered without a shard -------------------------------------------------------------


async def test_an_unknown_deal_is_looked_up_but_reaches_no_shard() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    assert await s.purchases.purchase("u1", "d-404", "k1", 1) == Failure(
        Problem.UNKNOWN_DEAL, "d-404"
    )
    assert s.cache.asked == ["d-404"] and s.records.asked == ["d-404"]
    assert s.log == []


async def test_a_malformed_deal_id_is_unknown_without_any_lookup() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    for deal_id in ["", "d 1", "../d-1", "x" * 37, "d-1;drop"]:
        assert await s.purchases.purchase("u1", deal_id, "k1", 1) == Failure(
            Problem.UNKNOWN_DEAL, deal_id
        )
    assert s.cache.asked == [] and s.records.asked == []
    assert s.log == []


async def test_before_the_start_the_answer_names_the_start_time() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2, starts_ts=4_102_444_800.0))
    answer = await s.purchases.purchase("u1", "d-1", "k1", 1)
    assert answer == Failure(Problem.NOT_STARTED, "2100-01-01T00:00:00.000Z")
    assert s.log == []


async def test_after_the_end_a_new_key_is_told_ended() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2, ends_ts=time.time() - 1))
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == Failure(Problem.ENDED)
    assert s.log == []


async def test_after_the_end_a_repeated_key_gets_its_first_answer() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2, ends_ts=time.time() - 1))
    s.answers.known[("d-1", "u1", "k1")] = ("o-7", PAY_BY)
    answer = await s.purchases.purchase("u1", "d-1", "k1", 1)
    assert isinstance(answer, Reserved)
    assert (answer.order_id, answer.pay_by, answer.replayed) == ("o-7", PAY_BY, True)
    # the same key from another buyer is not theirs
    assert await s.purchases.purchase("u2", "d-1", "k1", 1) == Failure(Problem.ENDED)
    assert s.log == []


async def test_more_than_the_per_user_limit_reaches_no_shard() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    assert await s.purchases.purchase("u1", "d-1", "k1", 3) == Failure(Problem.LIMIT_EXCEEDED)
    assert s.log == []  # not even preheated
    s.shards.script = [accepted("o-1", "u1", "k2")]
    assert isinstance(await s.purchases.purchase("u1", "d-1", "k2", 2), Reserved)  # at the limit
    assert s.reserves() == 1


async def test_a_user_over_the_rate_is_refused_before_the_deal_is_looked_up() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2), per_user_rate=1)
    s.shards.script = [accepted("o-1", "u1", "k1")]
    assert isinstance(await s.purchases.purchase("u1", "d-1", "k1", 1), Reserved)
    answer = await s.purchases.purchase("u1", "d-404", "k2", 1)
    assert answer == Failure(Problem.RATE_LIMITED, retry_after_s=1.0)
    assert s.cache.asked == ["d-1"]  # d-404 was never looked up
    assert s.reserves() == 1


# -- through a shard ------------------------------------------------------------------------


async def test_an_accepted_purchase_is_reserved_with_its_order_and_deadline() -> None:
    deal = deal_of("d-1", stock=10, per_user_limit=2, shards=4)
    s = shop(deal)
    s.shards.script = [accepted("o-1", "u1", "k1")]
    answer = await s.purchases.purchase("u1", "d-1", "k1", 2)
    assert isinstance(answer, Reserved)
    assert (answer.order_id, answer.pay_by, answer.replayed) == ("o-1", PAY_BY, False)
    assert s.shards.calls == [("d-1", shard_for_user("u1", 4), [ReserveRequest("u1", 2, "k1")])]


async def test_a_replay_the_shard_recognised_says_so() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.script = [accepted("o-1", "u1", "k1", replayed=True)]
    answer = await s.purchases.purchase("u1", "d-1", "k1", 1)
    assert isinstance(answer, Reserved) and answer.replayed


async def test_the_deal_is_preheated_once_before_its_first_reserve() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.script = [accepted("o-1", "u1", "k1"), accepted("o-2", "u2", "k2")]
    await s.purchases.purchase("u1", "d-1", "k1", 1)
    await s.purchases.purchase("u2", "d-1", "k2", 1)
    assert s.log == [
        ("open_pool", "d-1"),
        ("start", "d-1"),
        ("reserve", "d-1"),
        ("reserve", "d-1"),
    ]


async def test_a_preheat_that_fails_is_unavailable_and_tried_again() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.fail_start = 1
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == Failure(
        Problem.UNAVAILABLE, retry_after_s=1.0
    )
    assert s.reserves() == 0
    s.shards.script = [accepted("o-1", "u1", "k1")]
    assert isinstance(await s.purchases.purchase("u1", "d-1", "k1", 1), Reserved)
    assert [step for step, _ in s.log].count("start") == 2


async def test_a_shard_that_does_not_answer_is_unavailable() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.script = [ShardUnavailable("timed out (fake)")]
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == Failure(
        Problem.UNAVAILABLE, retry_after_s=1.0
    )
    assert s.reserves() == 1


async def test_a_shard_whose_breaker_is_open_is_not_called_until_it_would_probe() -> None:
    deal = deal_of("d-1", stock=10, per_user_limit=2, shards=2)
    clock = FakeClock()
    s = shop(deal, clock=clock)
    same_shard = [u for u in (f"u{i}" for i in range(40)) if shard_for_user(u, 2) == 0][:3]
    other = next(u for u in (f"v{i}" for i in range(40)) if shard_for_user(u, 2) == 1)
    s.shards.script = [ShardUnavailable("Redis breaker open (fake)", 4.0)]
    down = Failure(Problem.UNAVAILABLE, retry_after_s=4.0)
    assert await s.purchases.purchase(same_shard[0], "d-1", "k1", 1) == down
    clock.advance(1.5)
    # the same shard: answered here, with the time left, without a call
    assert await s.purchases.purchase(same_shard[1], "d-1", "k1", 1) == Failure(
        Problem.UNAVAILABLE, retry_after_s=2.5
    )
    assert s.reserves() == 1
    # another shard of the deal is called as ever
    s.shards.script = [accepted("o-1", other, "k1")]
    assert isinstance(await s.purchases.purchase(other, "d-1", "k1", 1), Reserved)
    # when the shard would let a probe through, it is called again
    clock.advance(2.5)
    s.shards.script = [accepted("o-2", same_shard[2], "k1")]
    assert isinstance(await s.purchases.purchase(same_shard[2], "d-1", "k1", 1), Reserved)
    assert s.reserves() == 3


async def test_purchases_queued_behind_the_call_that_met_an_open_breaker_stay_here() -> None:
    deal = deal_of("d-1", stock=10, per_user_limit=2, shards=1)
    s = shop(deal)
    gate = asyncio.Event()
    plain = s.shards.reserve

    async def held(deal: Deal, shard: int, requests: list[ReserveRequest]) -> list[ReserveResult]:
        await gate.wait()  # the first call is out while the second buyer arrives
        return await plain(deal, shard, requests)

    s.shards.reserve = held  # type: ignore[method-assign]
    s.shards.script = [ShardUnavailable("Redis breaker open (fake)", 4.0)]
    first = asyncio.create_task(s.purchases.purchase("u1", "d-1", "k1", 1))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(s.purchases.purchase("u2", "d-1", "k1", 1))
    await asyncio.sleep(0.01)
    gate.set()
    assert await first == Failure(Problem.UNAVAILABLE, retry_after_s=4.0)
    assert await second == Failure(Problem.UNAVAILABLE, retry_after_s=4.0)
    assert s.reserves() == 1  # the queued purchase never went out


async def test_an_uncertain_sold_out_is_unavailable_and_not_remembered() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.script = [
        refusal(Refusal.SOLD_OUT, uncertain=True),
        refusal(Refusal.SOLD_OUT, deal_sold_out=True, uncertain=True),
        accepted("o-1", "u1", "k1"),
    ]
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == Failure(
        Problem.UNAVAILABLE, retry_after_s=1.0
    )
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == Failure(
        Problem.UNAVAILABLE, retry_after_s=1.0
    )
    assert not s.board.is_sold_out("d-1")
    assert s.answers.snapshots == 0
    assert isinstance(await s.purchases.purchase("u1", "d-1", "k1", 1), Reserved)


async def test_a_shard_short_of_stock_is_sold_out_for_this_buyer_only() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.script = [refusal(Refusal.SOLD_OUT), accepted("o-1", "u2", "k2")]
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == SOLD_OUT
    assert not s.board.is_sold_out("d-1")
    assert isinstance(await s.purchases.purchase("u2", "d-1", "k2", 1), Reserved)
    assert s.reserves() == 2


async def test_a_dry_deal_is_then_sold_out_without_any_shard_call() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.answers.known[("d-1", "u0", "k0")] = ("o-0", PAY_BY)
    s.shards.script = [refusal(Refusal.SOLD_OUT, deal_sold_out=True)]
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == SOLD_OUT
    assert s.board.is_sold_out("d-1")

    assert await s.purchases.purchase("u2", "d-1", "k2", 1) == SOLD_OUT
    replay = await s.purchases.purchase("u0", "d-1", "k0", 1)
    assert isinstance(replay, Reserved)
    assert (replay.order_id, replay.pay_by, replay.replayed) == ("o-0", PAY_BY, True)
    assert s.reserves() == 1
    assert (s.answers.snapshots, s.answers.single_lookups) == (1, 0)  # from the snapshot


async def test_the_shards_other_refusals_become_failures_of_the_same_name() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2))
    s.shards.script = [refusal(Refusal.LIMIT_EXCEEDED), refusal(Refusal.KEY_REUSED)]
    assert await s.purchases.purchase("u1", "d-1", "k1", 2) == Failure(Problem.LIMIT_EXCEEDED)
    assert await s.purchases.purchase("u1", "d-1", "k1", 1) == Failure(Problem.KEY_REUSED)
    assert s.reserves() == 2


# -- what the metrics are told -------------------------------------------------------------


async def test_every_answer_is_counted_by_outcome_and_only_known_deals_are_named() -> None:
    s = shop(deal_of("d-1", stock=10, per_user_limit=2), per_user_rate=3)
    s.shards.script = [accepted("o-1", "u1", "k1"), accepted("o-1", "u1", "k1", replayed=True)]
    await s.purchases.purchase("u1", "d-1", "k1", 1)
    await s.purchases.purchase("u1", "d-1", "k1", 1)
    await s.purchases.purchase("u1", "made-up-id", "k2", 1)
    await s.purchases.purchase("u1", "d-1", "k3", 1)  # over the rate
    assert s.metrics.answers == [
        ("reserved", "d-1"),
        ("replayed", "d-1"),
        ("unknown_deal", "-"),  # a caller's invented id never becomes a label
        ("rate_limited", "-"),
    ]
    assert s.metrics.batches == [1, 1]  # one observation per shard call
