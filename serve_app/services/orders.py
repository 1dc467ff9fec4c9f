"""A buyer's orders: found live in its shard's checkpoint; paid or cancelled by the shard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from actors.adapters.redis_deals import RedisDeals
from actors.domain.deals import Deal
from actors.domain.orders import OrderStatus, Outcome, Refused, Reservation
from actors.ports import Shards, ShardUnavailable
from serve_app.payments import PaymentProvider
from serve_app.services.catalog import Catalog
from serve_app.services.outcomes import Failure, Problem, refused


@dataclass(frozen=True, slots=True)
class FoundOrder:
    deal: Deal
    shard: int
    reservation: Reservation

    @property
    def amount_cents(self) -> int:
        return self.reservation.quantity * self.deal.price_cents


class Orders:
    def __init__(
        self, deals: RedisDeals, catalog: Catalog, shards: Shards, payments: PaymentProvider
    ) -> None:
        self._deals = deals
        self._catalog = catalog
        self._shards = shards
        self._payments = payments

    async def find(self, user_id: str, order_id: str) -> FoundOrder | Failure:
        """The caller's order; anyone else's does not exist for them."""
        found = await self._deals.find_order(order_id)
        if found is None or found[2].user_id != user_id:
            return Failure(Problem.UNKNOWN_ORDER, order_id)
        deal_id, shard, reservation = found
        deal = await self._catalog.deal(deal_id)
        if deal is None:
            return Failure(Problem.UNKNOWN_ORDER, order_id)
        return FoundOrder(deal, shard, reservation)

    async def pay(self, user_id: str, order_id: str) -> OrderStatus | Failure:
        """Charge, then have the shard mark it paid (paying twice is fine)."""
        order = await self.find(user_id, order_id)
        if isinstance(order, Failure):
            return order
        if order.reservation.status is OrderStatus.RESERVED and not await self._payments.charge(
            order_id, user_id, order.amount_cents
        ):
            return Failure(Problem.PAYMENT_DECLINED)
        return await self._settle(self._shards.pay, order)

    async def cancel(self, user_id: str, order_id: str) -> OrderStatus | Failure:
        """Cancel a reserved order; its stock goes back on sale."""
        order = await self.find(user_id, order_id)
        if isinstance(order, Failure):
            return order
        return await self._settle(self._shards.cancel, order)

    async def _settle(
        self, action: Callable[[Deal, int, str, str], Awaitable[Outcome]], order: FoundOrder
    ) -> OrderStatus | Failure:
        r = order.reservation
        try:
            outcome = await action(order.deal, order.shard, r.order_id, r.user_id)
        except ShardUnavailable as exc:
            return Failure(Problem.UNAVAILABLE, "please retry", max(1.0, exc.retry_after_s))
        return (
            refused(outcome.reason) if isinstance(outcome, Refused) else outcome.reservation.status
        )
