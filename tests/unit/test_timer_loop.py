"""TimerLoop over fakes: what is due fires, failures come back later, twice is harmless."""

from actors.domain import timers
from actors.domain.ledger import Outcome, Refusal, Refused
from actors.services.timer_loop import NOT_DUE_RETRY_S, RETIRE_RETRY_S, TimerLoop


class FakeTimers:
    def __init__(self) -> None:
        self.set: dict[str, float] = {}

    async def schedule(self, timer, at: float) -> None:
        self.set[timer.encode()] = at

    async def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        return sorted(((m, t) for m, t in self.set.items() if t <= now), key=lambda x: x[1])[:limit]

    async def done(self, member: str) -> None:
        self.set.pop(member, None)

    async def done_many(self, members: list[str]) -> None:
        for member in members:
            self.set.pop(member, None)

    async def postpone(self, member: str, at: float) -> None:
        if member in self.set:
            self.set[member] = at


class FakeActions:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.failing = 0
        self.expire_answer: Outcome = Refused(Refusal.ORDER_PAID)
        self.not_due: set[str] = set()  # orders whose shard says "not yet"
        self.retire_answer = True

    def _maybe_fail(self) -> None:
        if self.failing:
            self.failing -= 1
            raise ConnectionError("shard away (fake)")

    async def preheat(self, deal_id: str) -> None:
        self._maybe_fail()
        self.calls.append(("preheat", deal_id))

    async def expire_many(self, deal_id: str, shard: int, order_ids: list[str]) -> list[Outcome]:
        self._maybe_fail()
        self.calls.append(("expire", deal_id, shard, tuple(order_ids)))
        return [
            Refused(Refusal.NOT_DUE) if o in self.not_due else self.expire_answer for o in order_ids
        ]

    async def retire(self, deal_id: str) -> bool:
        self._maybe_fail()
        self.calls.append(("retire", deal_id))
        return self.retire_answer


async def test_only_what_is_due_fires_and_then_is_gone() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.preheat("d"), 10)
    await t.schedule(timers.expire("d", 1, "o"), 20)
    loop = TimerLoop(t, a)
    assert await loop.tick(15) == 1
    assert a.calls == [("preheat", "d")]
    assert await loop.tick(15) == 0
    assert await loop.tick(20) == 1
    assert a.calls[-1] == ("expire", "d", 1, ("o",))
    assert t.set == {}


async def test_a_failed_action_stays_and_backs_off() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.preheat("d"), 0)
    a.failing = 2
    loop = TimerLoop(t, a)
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
    loop = TimerLoop(t, a)
    assert await loop.tick(5) == 0
    assert t.set == {"expire|d|0|o": 5 + NOT_DUE_RETRY_S, "retire|d": 5 + RETIRE_RETRY_S}


async def test_a_timer_removed_while_it_failed_stays_removed() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.expire("d", 0, "o"), 5)
    a.failing = 1
    loop = TimerLoop(t, a)

    real_expire = a.expire_many

    async def paid_meanwhile(*args):
        await t.done("expire|d|0|o")  # the shard settled the order: its deadline left
        return await real_expire(*args)

    a.expire_many = paid_meanwhile
    assert await loop.tick(5) == 0
    assert t.set == {}


async def test_unreadable_members_are_dropped() -> None:
    t, a = FakeTimers(), FakeActions()
    t.set["nap|x"] = 1
    assert await TimerLoop(t, a).tick(2) == 0
    assert t.set == {} and a.calls == []


async def test_the_deadlines_due_on_one_shard_go_as_one_call() -> None:
    t, a = FakeTimers(), FakeActions()
    for n in range(6):
        await t.schedule(timers.expire("d", n % 2, f"o{n}"), 5)
    await t.schedule(timers.expire("e", 0, "x"), 5)
    a.not_due = {"o3"}
    loop = TimerLoop(t, a)
    assert await loop.tick(5) == 6
    assert sorted(a.calls) == [
        ("expire", "d", 0, ("o0", "o2", "o4")),
        ("expire", "d", 1, ("o1", "o3", "o5")),
        ("expire", "e", 0, ("x",)),
    ]
    assert t.set == {"expire|d|1|o3": 5 + NOT_DUE_RETRY_S}  # only the one not yet due


async def test_a_shard_away_puts_back_all_its_deadlines() -> None:
    t, a = FakeTimers(), FakeActions()
    for n in range(3):
        await t.schedule(timers.expire("d", 0, f"o{n}"), 5)
    a.failing = 1
    loop = TimerLoop(t, a)
    assert await loop.tick(5) == 0
    assert t.set == {f"expire|d|0|o{n}": 6 for n in range(3)}
    assert await loop.tick(6) == 3
    assert t.set == {}


async def test_each_due_timer_reports_how_late_it_was_found() -> None:
    t, a = FakeTimers(), FakeActions()
    await t.schedule(timers.preheat("d"), 10)
    await t.schedule(timers.expire("d", 1, "o"), 12)
    await t.schedule(timers.expire("d", 1, "later"), 99)
    late: list[float] = []
    loop = TimerLoop(t, a, lateness=late.append)
    await loop.tick(15)
    assert sorted(late) == [3.0, 5.0]  # not the one not yet due
