"""The DealClock's loop: fire what is due, then forget it; on failure, try again later.

No Ray here (actors/clock_actor.py wraps it), so it is driven by ``tick`` in tests.
A timer leaves the set only after its action succeeded, so a crash in between fires it
again after the restart: every action is harmless twice (a second preheat finds the
pool set; a second expire finds the order cancelled; a second retire finds no shards).
"""

from __future__ import annotations

import asyncio
import logging

from actors.domain.ledger import Accepted, Refusal
from actors.domain.timers import Kind, Timer
from actors.ports import ClockActions, Timers

logger = logging.getLogger("flashsale.clock")

NOT_DUE_RETRY_S = 1.0  # the shard's clock is behind ours: ask again soon
RETIRE_RETRY_S = 60.0  # a finished deal still holds unpaid orders: their deadlines come first
MAX_BACKOFF_S = 30.0


class ClockLoop:
    def __init__(
        self, timers: Timers, actions: ClockActions, batch: int = 500, concurrency: int = 16
    ) -> None:
        self._timers = timers
        self._actions = actions
        self._batch = batch
        # Timers fire concurrently, but not all at once: each holds a Redis connection.
        self._gate = asyncio.Semaphore(concurrency)
        self._failures: dict[str, int] = {}  # consecutive failures per timer, for backoff
        self.fired = 0

    async def tick(self, now: float) -> int:
        """Fire every timer due by ``now`` (up to a batch); return how many finished."""
        due = await self._timers.due(now, self._batch)
        results = await asyncio.gather(*(self._gated(member, now) for member, _ in due))
        finished = sum(results)
        self.fired += finished
        return finished

    async def _gated(self, member: str, now: float) -> bool:
        async with self._gate:
            return await self._fire(member, now)

    async def _fire(self, member: str, now: float) -> bool:
        try:
            timer = Timer.decode(member)
        except ValueError:
            logger.error("dropping a timer this code cannot read: %r", member)
            await self._timers.done(member)
            return False
        try:
            retry_at = await self._act(timer, now)
        except Exception as exc:  # noqa: BLE001 -- the part it needs is away: later
            failures = self._failures[member] = self._failures.get(member, 0) + 1
            delay = min(2.0 ** (failures - 1), MAX_BACKOFF_S)
            logger.warning("timer %s failed (%r); again in %.0fs", member, exc, delay)
            await self._timers.postpone(member, now + delay)
            return False
        self._failures.pop(member, None)
        if retry_at is not None:
            await self._timers.postpone(member, retry_at)
            return False
        await self._timers.done(member)
        return True

    async def _act(self, timer: Timer, now: float) -> float | None:
        """Do what the timer says; a time to come back, or None when it is done."""
        if timer.kind is Kind.PREHEAT:
            await self._actions.preheat(timer.deal_id)
            return None
        if timer.kind is Kind.EXPIRE:
            outcome = await self._actions.expire(timer.deal_id, timer.shard, timer.order_id)
            if not isinstance(outcome, Accepted) and outcome.reason is Refusal.NOT_DUE:
                return now + NOT_DUE_RETRY_S
            return None  # cancelled now or before, or paid in time: either way, done
        if await self._actions.retire(timer.deal_id):
            return None
        return now + RETIRE_RETRY_S
