"""Supervisor over a scripted service: sessions kept or reopened, backoff, pace, stats.

A run never ends by itself: each test lets it play a script of step outcomes, waits (with
a bound) until the step asks for more than the script holds, then cancels it. Where the
exact sleeps matter, ``asyncio`` and ``time`` inside ``actors.supervise`` are replaced
by a virtual clock that records every sleep, so no assertion depends on wall time.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest

from actors import supervise
from actors.supervise import Step, Supervisor

WALL_AT_ZERO = 1_700_000_000.0  # what time.time() says when the virtual clock is at 0


class Away(ConnectionError):
    pass


class FakeService:
    """Opens sessions and plays ``script``: True (busy), False (caught up) or an
    exception to raise. Once the script is spent the step waits until cancelled."""

    def __init__(
        self,
        script: list[bool | Exception],
        log: list[tuple] | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> None:
        self.script = list(script)
        self.log = [] if log is None else log
        self.on_step = on_step
        self.failed_opens = 0  # make the next N session openings fail
        self.opened = 0
        self.spent = asyncio.Event()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Step]:
        if self.failed_opens:
            self.failed_opens -= 1
            self.log.append(("open failed",))
            raise Away("cannot connect (fake)")
        self.opened += 1
        self.log.append(("open",))
        try:
            yield self.step
        finally:
            self.log.append(("close",))

    async def step(self) -> bool:
        if not self.script:
            self.spent.set()
            await asyncio.Event().wait()  # until the run is cancelled
        outcome = self.script.pop(0)
        if self.on_step is not None:
            self.on_step()
        self.log.append(("step", outcome if isinstance(outcome, bool) else str(outcome)))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class VirtualTime:
    """A clock that moves only when slept on (or advanced); every sleep goes in ``log``."""

    def __init__(self, log: list[tuple]) -> None:
        self.log = log
        self.t = 0.0
        self._real_sleep = asyncio.sleep

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return WALL_AT_ZERO + self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    async def sleep(self, seconds: float) -> None:
        self.log.append(("sleep", seconds))
        self.t += seconds
        await self._real_sleep(0)  # still yield, as a real sleep would


@pytest.fixture
def log() -> list[tuple]:
    return []


@pytest.fixture
def vt(monkeypatch: pytest.MonkeyPatch, log: list[tuple]) -> VirtualTime:
    clock = VirtualTime(log)
    monkeypatch.setattr(supervise, "asyncio", SimpleNamespace(sleep=clock.sleep))
    monkeypatch.setattr(
        supervise, "time", SimpleNamespace(monotonic=clock.monotonic, time=clock.time)
    )
    return clock


async def play(sup: Supervisor, svc: FakeService, *, keep_session: bool) -> None:
    """Run ``sup`` until ``svc`` has played its whole script, then cancel the run."""
    run = asyncio.create_task(sup.run(svc.session, keep_session=keep_session))
    spent = asyncio.create_task(svc.spent.wait())
    try:
        done, _ = await asyncio.wait({run, spent}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if run in done:
            run.result()  # raises what ended the run, if anything did
            pytest.fail("Supervisor.run returned")
        assert spent in done, f"the script was not played in time: {svc.script} left"
    finally:
        run.cancel()
        spent.cancel()
        await asyncio.gather(run, spent, return_exceptions=True)


def sleeps(log: list[tuple]) -> list[float]:
    return [entry[1] for entry in log if entry[0] == "sleep"]


async def test_keep_session_retries_the_failed_step_in_the_same_session() -> None:
    svc = FakeService([False, Away("a"), Away("b"), False])
    sup = Supervisor("test", pace_s=0.001, max_backoff_s=0.004)
    await play(sup, svc, keep_session=True)
    assert svc.opened == 1
    assert svc.log == [
        ("open",),
        ("step", False),
        ("step", "a"),
        ("step", "b"),
        ("step", False),
        ("close",),  # closed by the cancel, not by the failures
    ]
    assert sup.failures == 2


async def test_without_keep_session_a_failed_step_reopens_the_session() -> None:
    svc = FakeService([False, Away("a"), Away("b"), False])
    sup = Supervisor("test", pace_s=0.001, max_backoff_s=0.004)
    await play(sup, svc, keep_session=False)
    assert svc.opened == 3
    assert svc.log == [
        ("open",),
        ("step", False),
        ("step", "a"),
        ("close",),
        ("open",),
        ("step", "b"),
        ("close",),
        ("open",),
        ("step", False),
        ("close",),
    ]
    assert sup.failures == 2


async def test_a_session_that_cannot_open_is_tried_again_after_a_back_off(
    vt: VirtualTime, log: list[tuple]
) -> None:
    svc = FakeService([False], log)
    svc.failed_opens = 2
    sup = Supervisor("test", pace_s=1.0, max_backoff_s=60.0)
    await play(sup, svc, keep_session=True)
    assert log == [
        ("open failed",),
        ("sleep", 1.0),
        ("open failed",),
        ("sleep", 2.0),
        ("open",),
        ("step", False),
        ("sleep", 1.0),
        ("close",),
    ]
    assert sup.stats()["failures"] == 2


@pytest.mark.parametrize("keep_session", [True, False])
async def test_backoff_doubles_up_to_the_cap_and_resets_after_a_success(
    vt: VirtualTime, log: list[tuple], keep_session: bool
) -> None:
    failures: list[bool | Exception] = [Away(str(n)) for n in range(5)]
    svc = FakeService([*failures, False, Away("again"), Away("again"), False], log)
    sup = Supervisor("test", pace_s=1.0, max_backoff_s=5.0)
    await play(sup, svc, keep_session=keep_session)
    assert sleeps(log) == [
        1.0,
        2.0,
        4.0,
        5.0,  # the cap, not 8
        5.0,
        1.0,  # the pace after the success
        1.0,  # the backoff starts over from the pace
        2.0,
        1.0,  # the pace after the success
    ]


async def test_a_busy_step_runs_again_without_waiting_the_pace(
    vt: VirtualTime, log: list[tuple]
) -> None:
    svc = FakeService([True, True, False, True, False], log)
    sup = Supervisor("test", pace_s=1.0, max_backoff_s=5.0)
    await play(sup, svc, keep_session=True)
    assert log == [
        ("open",),
        ("step", True),
        ("step", True),
        ("step", False),
        ("sleep", 1.0),
        ("step", True),
        ("step", False),
        ("sleep", 1.0),
        ("close",),
    ]


@pytest.mark.parametrize(("took_s", "rest_s"), [(0.25, 0.75), (1.5, 0.0)])
async def test_a_caught_up_step_waits_only_the_rest_of_the_pace(
    vt: VirtualTime, log: list[tuple], took_s: float, rest_s: float
) -> None:
    svc = FakeService([False, False], log, on_step=lambda: vt.advance(took_s))
    sup = Supervisor("test", pace_s=1.0, max_backoff_s=5.0)
    await play(sup, svc, keep_session=True)
    assert sleeps(log) == [rest_s, rest_s]


async def test_stats_say_what_failed_how_often_and_when_a_step_last_worked(
    vt: VirtualTime, log: list[tuple]
) -> None:
    sup = Supervisor("test", pace_s=1.0, max_backoff_s=5.0)
    assert sup.stats() == {"last_error": "", "last_step": 0.0, "failures": 0}

    await play(sup, FakeService([Away("redis down"), Away("kafka down")], log), keep_session=True)
    assert sup.stats() == {"last_error": "Away: kafka down", "last_step": 0.0, "failures": 2}

    # Backoffs of 1 then 2 s: the step that works runs at 3 s on the virtual clock.
    await play(sup, FakeService([False], log), keep_session=True)
    assert sup.stats() == {
        "last_error": "Away: kafka down",  # kept after the recovery, for the record
        "last_step": WALL_AT_ZERO + 3.0,
        "failures": 2,
    }
