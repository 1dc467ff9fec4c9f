"""ClockLoop over fakes: what is due fires, failures come back later, twice is harmless."""

from actors.clock import NOT_DUE_RETRY_S, RETIRE_RETRY_S, ClockLoop
from actors.domain import timers
from actors.domain.ledger import Outcome, Refusal, Refused


class FakeTimers:
    def __init__(self) -> None:
        self.set: dict[str, float] = {}

    async def schedule(self, timer, at: float) -> None:
        self.set[timer.encode()] = at

    async def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        return sorted(((m, t) for m, t in self.set.items() if t <= now), key=lambda x: x[1])[:limit]

    async def done(self, member: str) -> None:
        self.set.pop(member, None)

    async def postpone(self, member: str, at: float) -> None:
        if member in self.set:
            self.set[member] = at


class FakeActions:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.failing = 0
        self.expire_answer: Outcome = Refused(Refusal.ORDER_PAID)
        self.retire_answer = True

    def _maybe_fail(self) -> None:
        if self.failing:
            self.failing -= 1
            raise ConnectionError("shard away (fake)")

    async def preheat(self, deal_id: str) -> None:
        self._maybe_fail()
        self.calls.append(("preheat", deal_id))

    async def expire(self, deal_id: str, shard: int, order_id: str) -> Outcome:
        self._maybe_fail()
        self.calls.append(("expire", deal_id, shard, order_id))
        return self.expire_answer

    async def retire(self, deal_id: str) -> bool:
        self._maybe_fail()
        self.calls.append(("retire", deal_id))
        return self.retire_answer


async def test_only_what_is_due_fires_and_then_is_gone() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.preheat("d"), 10)
    await t.schedule(timers.expire("d", 1, "o"), 20)
    loop = ClockLoop(t, a)
    assert await loop.tick(15) == 1
    assert a.calls == [("preheat", "d")]
    assert await loop.tick(15) == 0
    assert await loop.tick(20) == 1
    assert a.calls[-1] == ("expire", "d", 1, "o")
    assert t.set == {}


async def test_a_failed_action_stays_and_backs_off() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.preheat("d"), 0)
    a.failing = 2
    loop = ClockLoop(t, a)
    assert await loop.tick(100) == 0
    assert t.set["preheat|d"] == 101  # 1 s
    assert await loop.tick(101) == 0
    assert t.set["preheat|d"] == 103  # then 2 s
    assert await loop.tick(103) == 1
    assert t.set == {}


async def test_not_due_and_not_yet_retirable_come_back() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.expire("d", 0, "o"), 5)
    await t.schedule(timers.retire("d"), 5)
    a.expire_answer = Refused(Refusal.NOT_DUE)
    a.retire_answer = False
    loop = ClockLoop(t, a)
    assert await loop.tick(5) == 0
    assert t.set == {"expire|d|0|o": 5 + NOT_DUE_RETRY_S, "retire|d": 5 + RETIRE_RETRY_S}


async def test_a_timer_removed_while_it_failed_stays_removed() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.expire("d", 0, "o"), 5)
    a.failing = 1
    loop = ClockLoop(t, a)

    real_expire = a.expire

    async def paid_meanwhile(*args):
        await t.done("expire|d|0|o")  # the shard settled the order: its deadline left
        return await real_expire(*args)

    a.expire = paid_meanwhile
    assert await loop.tick(5) == 0
    assert t.set == {}


async def test_unreadable_members_are_dropped() -> None:
    t, a = FakeTimers(), FakeActions()
    t.set["nap|x"] = 1
    assert await ClockLoop(t, a).tick(2) == 0
    assert t.set == {} and a.calls == []
