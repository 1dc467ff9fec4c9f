"""The DealClock's timer loop: fire what is due, then forget it; on failure, try again later.

No Ray here (actors/clock_actor.py wraps it), so it is driven by ``tick`` in tests.
A timer leaves the set only after its action succeeded, so a crash in between fires it
again after the restart: every action is harmless twice (a second preheat finds the
pool set; a second expire finds the order cancelled; a second retire finds no shards).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from actors.domain.orders import Accepted, Refusal
from actors.domain.timers import Kind, Timer
from actors.ports import ClockActions, Timers

logger = logging.getLogger("flashsale.clock")

NOT_DUE_RETRY_S = 1.0  # the shard's clock is behind ours: ask again soon
RETIRE_RETRY_S = 60.0  # a finished deal still holds unpaid orders: their deadlines come first
MAX_BACKOFF_S = 30.0


class TimerLoop:
    def __init__(
        self,
        timers: Timers,
        actions: ClockActions,
        batch: int = 500,
        concurrency: int = 16,
        lateness: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        """``lateness``: told, for each timer found due, how many seconds after its
        time (the clock's metric: a sweep that falls behind shows there first)."""
        self._timers = timers
        self._lateness = lateness
        self._actions = actions
        self._batch = batch
        # Timers fire concurrently, but not all at once: each holds a Redis connection.
        self._gate = asyncio.Semaphore(concurrency)
        self._failures: dict[str, int] = {}  # consecutive failures per timer, for backoff
        self.fired = 0

    async def tick(self, now: float) -> int:
        """Fire every timer due by ``now`` (up to a batch); return how many finished.

        The deadlines due on one shard go as one call: a sale's unpaid orders all fall
        due within seconds of each other, and one call (one group commit) per order
        kept the clock and the shards busy for minutes after a big sale."""
        expiries: dict[tuple[str, int], list[tuple[str, Timer]]] = defaultdict(list)
        jobs = []
        for member, when in await self._timers.due(now, self._batch):
            self._lateness(now - when)
            try:
                timer = Timer.decode(member)
            except ValueError:
                logger.error("dropping a timer this code cannot read: %r", member)
                await self._timers.done(member)
                continue
            if timer.kind is Kind.EXPIRE:
                expiries[(timer.deal_id, timer.shard)].append((member, timer))
            else:
                jobs.append(self._gated(self._fire(member, timer, now)))
        jobs += [self._gated(self._expire(group, now)) for group in expiries.values()]
        finished = sum(await asyncio.gather(*jobs))
        self.fired += finished
        return finished

    async def _gated(self, job: Awaitable[int]) -> int:
        async with self._gate:
            return await job

    async def _fire(self, member: str, timer: Timer, now: float) -> int:
        try:
            if timer.kind is Kind.PREHEAT:
                await self._actions.preheat(timer.deal_id)
                retry_at = None
            else:  # retire: a finished deal still holding unpaid orders waits for them
                retry_at = (
                    None if await self._actions.retire(timer.deal_id) else now + RETIRE_RETRY_S
                )
        except Exception as exc:  # noqa: BLE001 -- the part it needs is away: later
            await self._failed([member], exc, now)
            return 0
        self._failures.pop(member, None)
        if retry_at is not None:
            await self._timers.postpone(member, retry_at)
            return 0
        await self._timers.done(member)
        return 1

    async def _expire(self, group: list[tuple[str, Timer]], now: float) -> int:
        """One shard's due deadlines in one call: cancel what is unpaid (or find it
        settled already); a shard whose clock is behind says ``not_due``: ask again."""
        deal_id, shard = group[0][1].deal_id, group[0][1].shard
        members = [member for member, _ in group]
        try:
            outcomes = await self._actions.expire_many(
                deal_id, shard, [timer.order_id for _, timer in group]
            )
        except Exception as exc:  # noqa: BLE001 -- the shard is away: later
            await self._failed(members, exc, now)
            return 0
        finished = []
        for member, outcome in zip(members, outcomes, strict=True):
            self._failures.pop(member, None)
            if not isinstance(outcome, Accepted) and outcome.reason is Refusal.NOT_DUE:
                await self._timers.postpone(member, now + NOT_DUE_RETRY_S)
            else:
                finished.append(member)  # cancelled now or before, or paid in time
        await self._timers.done_many(finished)
        return len(finished)

    async def _failed(self, members: list[str], exc: Exception, now: float) -> None:
        delay = 0.0
        for member in members:
            failures = self._failures[member] = self._failures.get(member, 0) + 1
            delay = min(2.0 ** (failures - 1), MAX_BACKOFF_S)
            await self._timers.postpone(member, now + delay)
        logger.warning(
            "%d timer(s) from %s failed (%r); again in %.0fs", len(members), members[0], exc, delay
        )
