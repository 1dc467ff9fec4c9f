"""DealLifecycle and TimerActions over fakes of the ports: a deal's timers, its preheat
and its retirement, in the order the shards and the deal's keys need them."""

from __future__ import annotations

import pytest

from actors.domain import timers
from actors.domain.deals import Deal
from actors.domain.orders import Outcome, Refusal, Refused
from actors.domain.timers import Timer
from actors.services.deal_lifecycle import RETIRE_GRACE_S, DealLifecycle, TimerActions
from tests.fakes import FakeClock, deal_of

LEAD_S = 300.0
PAYMENT_TIMEOUT_S = 900.0
STARTS = 2_000_000_000.0
ENDS = 2_000_003_600.0


class FakeDeals:
    """The DealStore port; logs into the list it shares with the shards."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log
        self.cache: dict[str, Deal] = {}
        self.lookups: list[str] = []
        self.units_held = 0

    async def open_pool(self, deal: Deal) -> None:
        self.log.append(("open_pool", deal.deal_id))

    async def cached(self, deal_id: str) -> Deal | None:
        self.lookups.append(deal_id)
        return self.cache.get(deal_id)

    async def held(self, deal: Deal) -> int:
        return self.units_held

    async def close_outbox(self, deal_id: str) -> None:
        self.log.append(("close_outbox", deal_id))


class FakeShards:
    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log
        self.running: set[str] = set()
        self.expired: list[tuple[str, int, list[str]]] = []

    def started(self, deal_id: str) -> bool:
        return deal_id in self.running

    async def start(self, deal: Deal) -> None:
        self.log.append(("start", deal.deal_id))
        self.running.add(deal.deal_id)

    async def stop(self, deal: Deal) -> None:
        self.log.append(("stop", deal.deal_id))
        self.running.discard(deal.deal_id)

    async def expire_many(self, deal: Deal, shard: int, order_ids: list[str]) -> list[Outcome]:
        self.expired.append((deal.deal_id, shard, list(order_ids)))
        return [Refused(Refusal.ORDER_PAID) for _ in order_ids]


class FakeTimers:
    def __init__(self) -> None:
        self.set: dict[Timer, float] = {}

    async def schedule_many(self, when: dict[Timer, float]) -> None:
        self.set.update(when)


class World:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.deals = FakeDeals(self.log)
        self.shards = FakeShards(self.log)
        self.timers = FakeTimers()
        self.clock = FakeClock(start=STARTS - 1000)
        self.lifecycle = DealLifecycle(
            self.deals,
            self.shards,
            self.timers,
            self.clock,
            preheat_lead_s=LEAD_S,
            payment_timeout_s=PAYMENT_TIMEOUT_S,
        )
        self.actions = TimerActions(self.lifecycle, self.deals, self.shards)


@pytest.fixture
def world() -> World:
    return World()


def a_deal(deal_id: str = "d-1") -> Deal:
    return deal_of(deal_id, stock=10, per_user_limit=2, starts_ts=STARTS, ends_ts=ENDS)


# -- DealLifecycle ---------------------------------------------------------------------------


async def test_schedule_sets_a_preheat_at_the_lead_and_a_retire_after_the_last_deadline(
    world: World,
) -> None:
    await world.lifecycle.schedule(a_deal())
    assert RETIRE_GRACE_S == 60.0
    assert world.timers.set == {
        timers.preheat("d-1"): STARTS - 300,
        timers.retire("d-1"): ENDS + 900 + 60,
    }


async def test_scheduling_twice_sets_the_same_two_timers(world: World) -> None:
    await world.lifecycle.schedule(a_deal())
    await world.lifecycle.schedule(a_deal())
    assert len(world.timers.set) == 2


async def test_preheat_opens_the_pool_then_starts_the_shards(world: World) -> None:
    await world.lifecycle.preheat(a_deal())
    assert world.log == [("open_pool", "d-1"), ("start", "d-1")]


async def test_preheat_does_nothing_once_the_shards_run(world: World) -> None:
    await world.lifecycle.preheat(a_deal())
    await world.lifecycle.preheat(a_deal())
    world.shards.running.add("d-2")  # started elsewhere (another replica, the clock)
    await world.lifecycle.preheat(a_deal("d-2"))
    assert world.log == [("open_pool", "d-1"), ("start", "d-1")]


async def test_retire_refuses_before_the_end(world: World) -> None:
    await world.lifecycle.preheat(a_deal())
    world.clock.t = ENDS - 0.001
    assert await world.lifecycle.retire(a_deal()) is False
    assert world.shards.started("d-1")
    assert ("stop", "d-1") not in world.log


async def test_retire_refuses_while_units_are_held(world: World) -> None:
    await world.lifecycle.preheat(a_deal())
    world.clock.t = ENDS + 10_000
    world.deals.units_held = 1
    assert await world.lifecycle.retire(a_deal()) is False
    assert world.shards.started("d-1")
    assert ("stop", "d-1") not in world.log and ("close_outbox", "d-1") not in world.log


async def test_retire_stops_the_shards_then_closes_the_outbox(world: World) -> None:
    await world.lifecycle.preheat(a_deal())
    world.log.clear()
    world.clock.t = ENDS
    assert await world.lifecycle.retire(a_deal()) is True
    assert world.log == [("stop", "d-1"), ("close_outbox", "d-1")]
    assert not world.shards.started("d-1")


# -- TimerActions ----------------------------------------------------------------------------


async def test_timer_actions_look_a_deal_up_once(world: World) -> None:
    world.deals.cache["d-1"] = a_deal()
    world.clock.t = ENDS + 10_000
    await world.actions.preheat("d-1")
    outcomes = await world.actions.expire_many("d-1", 0, ["o-1", "o-2"])
    assert await world.actions.retire("d-1") is True
    assert world.deals.lookups == ["d-1"]
    assert outcomes == [Refused(Refusal.ORDER_PAID)] * 2
    assert world.shards.expired == [("d-1", 0, ["o-1", "o-2"])]
    assert world.log == [
        ("open_pool", "d-1"),
        ("start", "d-1"),
        ("stop", "d-1"),
        ("close_outbox", "d-1"),
    ]


async def test_timer_actions_refuse_a_deal_not_cached(world: World) -> None:
    for action in (
        world.actions.preheat("d-9"),
        world.actions.expire_many("d-9", 0, ["o-1"]),
        world.actions.retire("d-9"),
    ):
        with pytest.raises(LookupError, match="d-9"):
            await action
    assert world.log == [] and world.shards.expired == []


async def test_a_deal_missing_once_is_looked_up_again_later(world: World) -> None:
    with pytest.raises(LookupError):
        await world.actions.preheat("d-1")
    world.deals.cache["d-1"] = a_deal()
    await world.actions.preheat("d-1")
    assert world.deals.lookups == ["d-1", "d-1"]
    assert world.log == [("open_pool", "d-1"), ("start", "d-1")]
