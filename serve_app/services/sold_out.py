"""A replica's memory of sold-out deals, so their purchases never reach an actor.

When a shard reports a deal dry (its pool and every sibling empty), every order that
took its units is already in Redis: the siblings answered the refill only after their
own pending writes. So the replica snapshots the deal's first answers then, and a
repeated Idempotency-Key still gets its order without a Redis call per request. The
flag lasts ``ttl_s``: stock that a cancel returns is on sale again after at most that.
An order made elsewhere within that window (after a cancel) is not in the snapshot;
its buyer's retry may be told sold out until the flag expires. After that, the
snapshot is dropped and repeats ask Redis again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from actors.adapters.redis_deals import FirstAnswers

logger = logging.getLogger("flashsale.sold_out")
# Past this many orders the snapshot is not taken; repeats then ask Redis each time.
MAX_SNAPSHOT = 50_000


class AnswerStore(Protocol):
    """The deal's first answers (actors/adapters/redis_deals.py ``RedisDeals``)."""

    async def first_answer(
        self, deal_id: str, user_id: str, key: str
    ) -> tuple[str, float] | None: ...

    async def first_answers(self, deal_id: str, at_most: int) -> FirstAnswers | None: ...


class SoldOutBoard:
    def __init__(self, answers: AnswerStore, ttl_s: float = 1.0) -> None:
        self._store = answers
        self._ttl_s = ttl_s
        self._until: dict[str, float] = {}
        self._answers: dict[str, FirstAnswers | None] = {}
        self._loading: dict[str, asyncio.Task[None]] = {}

    def is_sold_out(self, deal_id: str) -> bool:
        return self._until.get(deal_id, 0.0) > time.monotonic()

    async def mark(self, deal_id: str) -> None:
        """The deal is dry: flag it once its first answers are in memory."""
        task = self._loading.get(deal_id)
        if task is None or task.done():
            task = self._loading[deal_id] = asyncio.create_task(self._snapshot(deal_id))
        await asyncio.shield(task)

    async def first_answer(self, deal_id: str, user_id: str, key: str) -> tuple[str, float] | None:
        """(order id, pay_by) of the first purchase with this key, if there was one."""
        # The snapshot holds only while the flag does: after it, a cancel may have put
        # units back on sale and new orders exist that the snapshot never saw.
        if self.is_sold_out(deal_id):
            answers = self._answers.get(deal_id)
            if answers is not None:
                return answers.get(user_id, key)
        else:
            self._answers.pop(deal_id, None)  # stale: free it
        return await self._store.first_answer(deal_id, user_id, key)

    async def _snapshot(self, deal_id: str) -> None:
        try:
            answers = await self._store.first_answers(deal_id, MAX_SNAPSHOT)
        except Exception as exc:  # noqa: BLE001 -- the snapshot only saves Redis calls
            # Redis away (its breaker open, say): the shard's answer stands, so the deal
            # is flagged anyway and repeats ask the store, as past MAX_SNAPSHOT. Raising
            # here turned the flash sale's sold-out answers into 500s.
            logger.warning("no first-answers snapshot of %s: %r", deal_id, exc)
            answers = None
        self._answers[deal_id] = answers
        self._until[deal_id] = time.monotonic() + self._ttl_s
