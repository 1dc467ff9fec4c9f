"""A deal's life around its sale: its timers, its preheat, its retirement. Written once,
for the replicas (a deal created, a first purchase) and the DealClock's timers alike.

No Ray and no Redis here: the shards and the deal's keys come in as ports.
"""

from __future__ import annotations

import logging

from actors.domain import timers
from actors.domain.deals import Deal
from actors.domain.orders import Outcome
from actors.ports import Clock, DealStore, Shards, Timers

logger = logging.getLogger("flashsale.lifecycle")

RETIRE_GRACE_S = 60.0  # past the last deadline, so the deadlines' timers come first


class DealLifecycle:
    def __init__(
        self,
        deals: DealStore,
        shards: Shards,
        timers: Timers,
        clock: Clock,
        *,
        preheat_lead_s: float,
        payment_timeout_s: float,
    ) -> None:
        self._deals = deals
        self._shards = shards
        self._timers = timers
        self._clock = clock
        self._preheat_lead_s = preheat_lead_s
        self._payment_timeout_s = payment_timeout_s

    async def schedule(self, deal: Deal) -> None:
        """The deal's durable timers: preheat at its lead time (at once if that has
        passed), retire its shards once its last payment window has closed."""
        last_deadline = deal.ends_ts + self._payment_timeout_s
        await self._timers.schedule_many(
            {
                timers.preheat(deal.deal_id): deal.starts_ts - self._preheat_lead_s,
                timers.retire(deal.deal_id): last_deadline + RETIRE_GRACE_S,
            }
        )

    async def preheat(self, deal: Deal) -> None:
        """Put the stock in the deal's pool (once, ever) and start every shard. Cheap
        once done: the purchase path calls it on every purchase."""
        if self._shards.started(deal.deal_id):
            return
        await self._deals.open_pool(deal)
        await self._shards.start(deal)

    async def retire(self, deal: Deal) -> bool:
        """Stop the deal's shards once it has ended and none holds an unpaid order;
        False: not yet (those orders' deadlines need the shards)."""
        if self._clock.now() < deal.ends_ts or await self._deals.held(deal):
            return False
        await self._shards.stop(deal)
        await self._deals.close_outbox(deal.deal_id)
        logger.info("retired the shards of deal %s", deal.deal_id)
        return True


class TimerActions:
    """What the DealClock's timers do (``ports.ClockActions``), by deal id."""

    def __init__(self, lifecycle: DealLifecycle, deals: DealStore, shards: Shards) -> None:
        self._lifecycle = lifecycle
        self._deals = deals
        self._shards = shards
        self._known: dict[str, Deal] = {}  # deals never change once made

    async def _deal(self, deal_id: str) -> Deal:
        found = self._known.get(deal_id)
        if found is None:
            found = await self._deals.cached(deal_id)
            if found is None:
                raise LookupError(f"deal {deal_id} is not cached in Redis")
            self._known[deal_id] = found
        return found

    async def preheat(self, deal_id: str) -> None:
        await self._lifecycle.preheat(await self._deal(deal_id))

    async def expire_many(self, deal_id: str, shard: int, order_ids: list[str]) -> list[Outcome]:
        return await self._shards.expire_many(await self._deal(deal_id), shard, order_ids)

    async def retire(self, deal_id: str) -> bool:
        return await self._lifecycle.retire(await self._deal(deal_id))
