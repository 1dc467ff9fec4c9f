"""ShardService over fakes: group commit, write-ahead, refill, fencing."""

import asyncio

import pytest

from actors.domain.deals import Deal, shard_for_user
from actors.domain.ledger import Accepted, Refusal, Refused
from actors.domain.orders import ReserveRequest
from actors.ports import DependencyDown, Fenced, OutboxFull, StoreError
from actors.services.shard import ShardService
from tests.fakes import CountingIds, FakeClock, FakeStore, deal_of


class Family:
    """All shards of one deal, wired to each other as siblings."""

    def __init__(self, store: FakeStore, deal: Deal) -> None:
        self.shards: dict[int, ShardService] = {}
        self.store = store
        self.deal = deal
        self.clock = FakeClock()
        store.pools[deal.deal_id] = deal.stock  # preheat puts the stock in the pool

    async def donate(self, shard: int, at_least: int) -> int:
        return await self.shards[shard].donate(at_least)

    async def start(self) -> "Family":
        for n in range(self.deal.shards):
            await self.restart(n)
        return self

    async def restart(self, n: int) -> ShardService:
        svc = ShardService(self.deal, n, self.store, self, self.clock, CountingIds(f"s{n}-"), 900)
        await svc.start()
        self.shards[n] = svc
        return svc

    def totals(self) -> tuple[int, int, int, int]:
        cs = [s.counts() for s in self.shards.values()]
        return (
            sum(c.stock for c in cs) + self.store.pools[self.deal.deal_id],
            sum(c.available for c in cs),
            sum(c.held for c in cs),
            sum(c.sold for c in cs),
        )


def deal(stock: int = 10, shards: int = 2, limit: int = 2) -> Deal:
    return deal_of("d1", stock=stock, per_user_limit=limit, price_cents=100, shards=shards)


async def test_first_start_takes_its_share_from_the_pool() -> None:
    fam = await Family(FakeStore(), deal(stock=11, shards=2)).start()
    assert [fam.shards[n].counts().stock for n in (0, 1)] == [6, 5]
    assert fam.store.pools["d1"] == 0


async def test_concurrent_commands_share_one_checkpoint_write() -> None:
    store = FakeStore()
    store.delay_s = 0.01
    fam = await Family(store, deal(stock=100, shards=1, limit=5)).start()
    before = store.commits
    shard = fam.shards[0]
    calls = [shard.reserve_many([ReserveRequest(f"u{i}", 1, "k")]) for i in range(50)]
    results = await asyncio.gather(*calls)
    assert all(isinstance(r[0].outcome, Accepted) for r in results)
    # Commands queued while the committer waits share its write: one or two, not 50.
    assert 1 <= store.commits - before <= 2
    assert shard.counts().held == 50


async def test_failed_write_changes_nothing_and_says_so() -> None:
    store = FakeStore()
    fam = await Family(store, deal(stock=5, shards=1)).start()
    shard = fam.shards[0]
    store.fail_next = 1
    with pytest.raises(StoreError):
        await shard.reserve_many([ReserveRequest("u1", 1, "k")])
    assert shard.counts().held == 0 and shard.order("s0-0") is None
    ok = await shard.reserve_many([ReserveRequest("u1", 1, "k")])
    assert isinstance(ok[0].outcome, Accepted)


async def test_restart_reloads_and_keys_still_map_to_their_order() -> None:
    fam = await Family(FakeStore(), deal(stock=5, shards=1)).start()
    first = (await fam.shards[0].reserve_many([ReserveRequest("u1", 2, "key-a")]))[0].outcome
    again_shard = await fam.restart(0)
    again = (await again_shard.reserve_many([ReserveRequest("u1", 2, "key-a")]))[0].outcome
    assert isinstance(again, Accepted) and again.replayed
    assert again.reservation == first.reservation
    assert again_shard.counts() == fam.store.shards[("d1", 0)].counts


async def test_an_older_copy_is_fenced_off_and_stops_selling() -> None:
    fam = await Family(FakeStore(), deal(stock=5, shards=1)).start()
    old = fam.shards[0]
    new = await fam.restart(0)  # a second copy: takes a newer epoch
    with pytest.raises(Fenced):
        await old.reserve_many([ReserveRequest("u1", 1, "k")])
    assert old.fenced
    with pytest.raises(Fenced):
        await old.reserve_many([ReserveRequest("u2", 1, "k")])
    assert isinstance((await new.reserve_many([ReserveRequest("u1", 1, "k")]))[0].outcome, Accepted)


async def test_a_dry_shard_takes_stock_from_its_siblings() -> None:
    fam = await Family(FakeStore(), deal(stock=10, shards=2, limit=1)).start()
    users = [f"user-{i}" for i in range(200)]
    mine = [u for u in users if shard_for_user(u, 2) == 0][:10]
    shard0 = fam.shards[0]
    results = [(await shard0.reserve_many([ReserveRequest(u, 1, "k")]))[0] for u in mine]
    assert all(isinstance(r.outcome, Accepted) for r in results), results
    assert fam.totals() == (10, 0, 10, 0)
    one_more = [u for u in users if shard_for_user(u, 2) == 0][10]
    last = (await shard0.reserve_many([ReserveRequest(one_more, 1, "k")]))[0]
    assert last.outcome == Refused(Refusal.SOLD_OUT) and last.deal_sold_out


async def test_pay_and_cancel_belong_to_the_buyer() -> None:
    fam = await Family(FakeStore(), deal(stock=5, shards=1)).start()
    shard = fam.shards[0]
    order = (await shard.reserve_many([ReserveRequest("u1", 1, "k")]))[0].outcome.reservation
    assert await shard.pay(order.order_id, "intruder") == Refused(Refusal.UNKNOWN_ORDER)
    assert await shard.cancel(order.order_id, "intruder") == Refused(Refusal.UNKNOWN_ORDER)
    paid = await shard.pay(order.order_id, "u1")
    assert isinstance(paid, Accepted)
    assert await shard.cancel(order.order_id, "u1") == Refused(Refusal.ORDER_PAID)
    assert (await shard.expire_many([order.order_id]))[0] == Refused(Refusal.ORDER_PAID)
    assert [e["type"] for e in fam.store.events] == ["created", "paid"]


async def test_a_full_outbox_refuses_new_orders_but_lets_payments_through() -> None:
    store = FakeStore()
    fam = await Family(store, deal(stock=10, shards=1, limit=5)).start()
    shard = fam.shards[0]
    store.outbox_max = 2
    first = (await shard.reserve_many([ReserveRequest("u1", 1, "a")]))[0].outcome
    await shard.reserve_many([ReserveRequest("u2", 1, "b")])
    store.delay_s = 0.01  # so that the next two commands share one group
    reserving = asyncio.create_task(shard.reserve_many([ReserveRequest("u3", 1, "c")]))
    paying = asyncio.create_task(shard.pay(first.reservation.order_id, "u1"))
    with pytest.raises(OutboxFull):
        await reserving
    assert isinstance(await paying, Accepted)
    assert fam.totals() == (10, 8, 1, 1)
    assert shard.order(first.reservation.order_id).status == "paid"
    assert shard.violations() == []


async def test_the_deadline_and_a_late_payment_agree() -> None:
    fam = await Family(FakeStore(), deal(stock=5, shards=1)).start()
    shard = fam.shards[0]
    a, b = (
        r.outcome.reservation
        for r in await shard.reserve_many(
            [ReserveRequest("u1", 1, "a"), ReserveRequest("u2", 1, "b")]
        )
    )
    assert (await shard.expire_many([a.order_id]))[0] == Refused(Refusal.NOT_DUE)
    fam.clock.advance(900)
    assert await shard.pay(a.order_id, "u1") == Refused(Refusal.ORDER_CANCELLED)
    assert isinstance(
        (await shard.expire_many([a.order_id]))[0], Accepted
    )  # the timer, late: harmless
    assert isinstance((await shard.expire_many([b.order_id]))[0], Accepted)
    assert fam.totals() == (5, 5, 0, 0)
    assert [e["type"] for e in fam.store.events] == ["created", "created", "cancelled", "cancelled"]


async def test_many_buyers_never_oversell() -> None:
    fam = await Family(FakeStore(), deal(stock=30, shards=3, limit=2)).start()
    requests = [(f"user-{i}", 1 + i % 2, f"k{i % 3}") for i in range(300)]

    async def buy(user: str, qty: int, key: str):
        shard = fam.shards[shard_for_user(user, 3)]
        return (await shard.reserve_many([ReserveRequest(user, qty, key)]))[0]

    results = await asyncio.gather(*(buy(*r) for r in requests))
    accepted = {
        r.outcome.reservation.order_id: r.outcome.reservation
        for r in results
        if isinstance(r.outcome, Accepted)
    }
    assert sum(r.quantity for r in accepted.values()) == 30
    assert fam.totals() == (30, 0, 30, 0)
    for shard in fam.shards.values():
        assert shard.violations() == []


async def test_a_write_whose_reply_was_lost_is_found_again_on_retry() -> None:
    store = FakeStore()
    fam = await Family(store, deal(stock=5, shards=1)).start()
    shard = fam.shards[0]
    store.lose_reply_next = 1  # Redis applied it; the shard cannot know
    with pytest.raises(StoreError):
        await shard.reserve_many([ReserveRequest("u1", 1, "key")])
    retry = (await shard.reserve_many([ReserveRequest("u1", 1, "key")]))[0].outcome
    assert isinstance(retry, Accepted) and retry.replayed  # the same order, not a second one
    assert shard.counts() == store.shards[("d1", 0)].counts
    assert shard.counts().held == 1 and shard.violations() == []


async def test_a_reload_refused_by_an_open_breaker_says_when_to_call_again() -> None:
    # A write that timed out leaves the shard to reload first; while Redis's breaker is
    # open that reload is refused, and the refusal must keep its retry-after: it is what
    # tells replicas to stop calling this shard until the breaker probes again.
    store = FakeStore()
    fam = await Family(store, deal(stock=5, shards=1)).start()
    shard = fam.shards[0]
    store.lose_reply_next = 1
    with pytest.raises(StoreError):
        await shard.reserve_many([ReserveRequest("u1", 1, "key")])
    load = store.load

    async def refused(deal_id: str, n: int) -> object:
        raise DependencyDown("redis is unavailable (its circuit breaker is open)", 4.5)

    store.load = refused  # type: ignore[method-assign]
    with pytest.raises(DependencyDown) as down:
        await shard.reserve_many([ReserveRequest("u2", 1, "key")])
    assert down.value.retry_after_s == 4.5
    store.load = load  # type: ignore[method-assign]
    retry = (await shard.reserve_many([ReserveRequest("u1", 1, "key")]))[0].outcome
    assert isinstance(retry, Accepted) and retry.replayed  # reloaded once Redis answered


async def test_a_silent_sibling_makes_sold_out_uncertain() -> None:
    fam = await Family(FakeStore(), deal(stock=2, shards=2, limit=1)).start()

    async def silent(shard: int, at_least: int) -> int:
        raise ConnectionError("sibling unreachable")

    fam.donate = silent  # type: ignore[method-assign]
    mine = [u for u in (f"user-{i}" for i in range(100)) if shard_for_user(u, 2) == 0][:2]
    first = (await fam.shards[0].reserve_many([ReserveRequest(mine[0], 1, "k")]))[0]
    assert isinstance(first.outcome, Accepted)
    second = (await fam.shards[0].reserve_many([ReserveRequest(mine[1], 1, "k")]))[0]
    assert second.outcome == Refused(Refusal.SOLD_OUT)
    assert second.uncertain and not second.deal_sold_out


async def test_a_refill_that_finds_too_little_asks_again_before_saying_sold_out() -> None:
    fam = await Family(FakeStore(), deal(stock=4, shards=2, limit=1)).start()
    shard0, shard1 = fam.shards[0], fam.shards[1]
    await shard0.reserve_many([ReserveRequest("a", 1, "k"), ReserveRequest("b", 1, "k")])
    assert await shard1.donate(1) == 1  # the pool holds 1, shard 1 has 1 to spare
    results = await shard0.reserve_many([ReserveRequest("c", 1, "k"), ReserveRequest("d", 1, "k")])
    # The pool's one unit is not enough for both: the second round takes shard 1's.
    assert all(isinstance(r.outcome, Accepted) for r in results), results
    assert fam.totals() == (4, 0, 4, 0)
    last = (await shard0.reserve_many([ReserveRequest("e", 1, "k")]))[0]
    assert last.outcome == Refused(Refusal.SOLD_OUT) and last.deal_sold_out


async def test_deadlines_due_together_expire_in_one_checkpoint_write() -> None:
    fam = await Family(FakeStore(), deal(stock=10, shards=1, limit=5)).start()
    shard = fam.shards[0]
    held = [
        r.outcome.reservation
        for r in await shard.reserve_many([ReserveRequest(f"u{i}", 1, "k") for i in range(6)])
    ]
    await shard.pay(held[0].order_id, "u0")
    fam.clock.advance(900)
    before = fam.store.commits
    outcomes = await shard.expire_many([r.order_id for r in held] + ["no-such-order"])
    assert fam.store.commits - before == 1
    assert outcomes[0] == Refused(Refusal.ORDER_PAID)
    assert all(isinstance(o, Accepted) for o in outcomes[1:6])
    assert outcomes[6] == Refused(Refusal.UNKNOWN_ORDER)
    assert fam.totals() == (10, 9, 0, 1)
    assert shard.violations() == []


async def test_a_sibling_winning_the_pool_fails_the_refill_not_the_buyers_beside_it() -> None:
    store = FakeStore()
    fam = await Family(store, deal(stock=10, shards=1, limit=5)).start()
    shard = fam.shards[0]
    store.pools["d1"] = 3
    read_pool = store.pool

    async def raced(deal_id: str) -> int:  # a sibling takes the units right after this read
        seen = await read_pool(deal_id)
        store.pools[deal_id] = 0
        return seen

    store.pool = raced  # type: ignore[method-assign]
    store.delay_s = 0.01
    first = asyncio.create_task(shard.reserve_many([ReserveRequest("u0", 1, "a")]))
    await asyncio.sleep(0)  # the committer now writes the first group; the next two share one
    refill = asyncio.create_task(shard._take_from_pool(3))
    buyer = asyncio.create_task(shard.reserve_many([ReserveRequest("u1", 1, "b")]))
    assert isinstance((await first)[0].outcome, Accepted)
    assert isinstance((await buyer)[0].outcome, Accepted)  # not failed with the short pool
    assert await refill == 0
    assert fam.totals() == (10, 8, 2, 0)
    assert shard.violations() == []
