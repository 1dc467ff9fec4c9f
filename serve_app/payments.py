"""Where a payment provider plugs in. Payment is simulated for now: every charge passes.

A real provider replaces ``SimulatedPayments`` behind the same method; the route charges
before the shard moves the order to paid, and would refund if the shard refused (the
deadline won the race).
"""

from __future__ import annotations

from typing import Protocol


class PaymentProvider(Protocol):
    async def charge(self, order_id: str, user_id: str, amount_cents: int) -> bool: ...


class SimulatedPayments:
    async def charge(self, order_id: str, user_id: str, amount_cents: int) -> bool:
        return True
