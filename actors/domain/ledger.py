"""The stock ledger of one shard of one deal: the rules, and nothing else.

No Ray, no Redis, no clock: the actor around it supplies ids and times, persists what a
transaction changed, and only then lets the change stand (write-ahead):

    ledger.begin()
    outcome = ledger.reserve(...)          # tentative
    store.write(ledger.changes())          # persist; raises on a fault
    ledger.commit()                        # or ledger.rollback() if the write failed

Outcomes are returned values (sold out, limit reached, ...); only a broken rule of the
caller (no transaction open, a quantity below 1) raises.

Everything a restart needs is the counts and the reservations: per-user quantities and
idempotency keys are derived from the reservations, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from actors.domain import events
from actors.domain.orders import (
    Accepted,
    Counts,
    OrderStatus,
    Outcome,
    Refusal,
    Refused,
    Reservation,
)


@dataclass(slots=True)
class Changes:
    """What one transaction changed: all the checkpoint needs to write."""

    counts: Counts
    reservations: list[Reservation]
    events: list[dict[str, Any]]
    pool_delta: int  # units moved into (+) or out of (-) the deal's shared pool


@dataclass(slots=True)
class _Txn:
    counts: Counts
    touched: dict[str, Reservation | None] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    pool_delta: int = 0


class NoTransaction(RuntimeError):
    pass


class Ledger:
    def __init__(self, deal_id: str, shard: int, per_user_limit: int, price_cents: int) -> None:
        if per_user_limit < 1:
            raise ValueError("per_user_limit must be at least 1")
        self.deal_id = deal_id
        self.shard = shard
        self.per_user_limit = per_user_limit
        self.price_cents = price_cents
        self.stock = 0
        self.available = 0
        self.held = 0
        self.sold = 0
        self._orders: dict[str, Reservation] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._user_qty: dict[str, int] = {}
        self._txn: _Txn | None = None

    # -- restore -------------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        deal_id: str,
        shard: int,
        per_user_limit: int,
        price_cents: int,
        counts: Counts,
        reservations: list[Reservation],
    ) -> Ledger:
        ledger = cls(deal_id, shard, per_user_limit, price_cents)
        ledger._set_counts(counts)
        for r in reservations:
            ledger._put(r)
        return ledger

    # -- reads ---------------------------------------------------------------------

    def counts(self) -> Counts:
        return Counts(self.stock, self.available, self.held, self.sold)

    def order(self, order_id: str) -> Reservation | None:
        return self._orders.get(order_id)

    def user_quantity(self, user_id: str) -> int:
        return self._user_qty.get(user_id, 0)

    def reservations(self) -> list[Reservation]:
        return list(self._orders.values())

    # -- transactions --------------------------------------------------------------

    def begin(self) -> None:
        if self._txn is not None:
            raise RuntimeError("a transaction is already open")
        self._txn = _Txn(counts=self.counts())

    def changes(self) -> Changes:
        txn = self._open()
        return Changes(
            counts=self.counts(),
            reservations=[self._orders[o] for o in txn.touched],
            events=list(txn.events),
            pool_delta=txn.pool_delta,
        )

    def commit(self) -> None:
        self._open()
        self._txn = None

    def rollback(self) -> None:
        txn = self._open()
        for order_id, before in reversed(list(txn.touched.items())):
            self._drop(self._orders[order_id])
            if before is not None:
                self._put(before)
        self._set_counts(txn.counts)
        self._txn = None

    # -- commands ------------------------------------------------------------------

    def reserve(
        self, *, user_id: str, quantity: int, key: str, order_id: str, now: float, pay_by: float
    ) -> Outcome:
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        txn = self._open()
        first = self._by_key.get((user_id, key))
        if first is not None:
            seen = self._orders[first]
            if seen.quantity != quantity:
                return Refused(Refusal.KEY_REUSED)
            return Accepted(seen, replayed=True)
        if self.user_quantity(user_id) + quantity > self.per_user_limit:
            return Refused(Refusal.LIMIT_EXCEEDED)
        if self.available < quantity:
            return Refused(Refusal.SOLD_OUT)
        reservation = Reservation(
            order_id=order_id,
            user_id=user_id,
            quantity=quantity,
            key=key,
            status=OrderStatus.RESERVED,
            created_at=now,
            pay_by=pay_by,
        )
        self._touch(order_id)
        self.available -= quantity
        self.held += quantity
        self._put(reservation)
        txn.events.append(
            events.order_event(events.CREATED, self.deal_id, reservation, self.price_cents)
        )
        return Accepted(reservation)

    def confirm(self, order_id: str, *, now: float) -> Outcome:
        """Pay: held -> sold. Paying twice is fine; paying a cancelled order is not.

        An order still held at or after its ``pay_by`` was unpaid at its deadline: it is
        cancelled here and then (its stock returns) and the payment refused, so that pay
        and the deadline's timer agree whichever reaches the shard first."""
        current = self._orders.get(order_id)
        if current is not None and current.status is OrderStatus.RESERVED and now >= current.pay_by:
            self._settle(order_id, OrderStatus.CANCELLED, now)
            return Refused(Refusal.ORDER_CANCELLED)
        return self._settle(order_id, OrderStatus.PAID, now)

    def release(self, order_id: str, *, now: float) -> Outcome:
        """Cancel (by the buyer): held -> available."""
        return self._settle(order_id, OrderStatus.CANCELLED, now)

    def expire(self, order_id: str, *, now: float) -> Outcome:
        """The deadline's timer: cancel an order still held at its ``pay_by``. A paid order
        is refused (``order_paid``); one not yet due is left alone (``not_due``)."""
        current = self._orders.get(order_id)
        if current is not None and current.status is OrderStatus.RESERVED and now < current.pay_by:
            return Refused(Refusal.NOT_DUE)
        return self._settle(order_id, OrderStatus.CANCELLED, now)

    def _settle(self, order_id: str, target: OrderStatus, now: float) -> Outcome:
        txn = self._open()
        current = self._orders.get(order_id)
        if current is None:
            return Refused(Refusal.UNKNOWN_ORDER)
        if current.status is target:
            return Accepted(current, replayed=True)
        if current.status is not OrderStatus.RESERVED:
            paid = current.status is OrderStatus.PAID
            return Refused(Refusal.ORDER_PAID if paid else Refusal.ORDER_CANCELLED)
        self._touch(order_id)
        self._drop(current)
        self.held -= current.quantity
        if target is OrderStatus.PAID:
            settled = replace(current, status=target, paid_at=now)
            self.sold += current.quantity
            kind = events.PAID
        else:
            settled = replace(current, status=target, cancelled_at=now)
            self.available += current.quantity
            kind = events.CANCELLED
        self._put(settled)
        txn.events.append(events.order_event(kind, self.deal_id, settled, self.price_cents))
        return Accepted(settled)

    def add_stock(self, units: int) -> None:
        """Units arrive from the deal's pool (or the first allocation)."""
        if units < 0:
            raise ValueError("units must not be negative")
        txn = self._open()
        self.stock += units
        self.available += units
        txn.pool_delta -= units

    def give_back(self, units: int) -> int:
        """Move up to ``units`` available units to the deal's pool; return how many."""
        if units < 0:
            raise ValueError("units must not be negative")
        txn = self._open()
        given = min(units, self.available)
        self.stock -= given
        self.available -= given
        txn.pool_delta += given
        return given

    # -- invariants ----------------------------------------------------------------

    def violations(self) -> list[str]:
        """Broken invariants (I1, I2, I4 within this shard); empty when all hold."""
        problems = []
        if min(self.stock, self.available, self.held, self.sold) < 0:
            problems.append(f"negative count: {self.counts()}")
        if self.available + self.held + self.sold != self.stock:
            problems.append(f"available + held + sold != stock: {self.counts()}")
        by_status = {s: 0 for s in OrderStatus}
        per_user: dict[str, int] = {}
        for r in self._orders.values():
            by_status[r.status] += r.quantity
            if r.status is not OrderStatus.CANCELLED:
                per_user[r.user_id] = per_user.get(r.user_id, 0) + r.quantity
        if by_status[OrderStatus.RESERVED] != self.held:
            problems.append(f"held {self.held} != reserved {by_status[OrderStatus.RESERVED]}")
        if by_status[OrderStatus.PAID] != self.sold:
            problems.append(f"sold {self.sold} != paid {by_status[OrderStatus.PAID]}")
        late = [
            r.order_id
            for r in self._orders.values()
            if r.status is OrderStatus.PAID and (r.paid_at is None or r.paid_at >= r.pay_by)
        ]
        if late:
            problems.append(f"orders paid at or after their deadline: {late}")
        over = {u: q for u, q in per_user.items() if q > self.per_user_limit}
        if over:
            problems.append(f"users over the limit {self.per_user_limit}: {over}")
        if {u: q for u, q in self._user_qty.items() if q} != per_user:
            problems.append("per-user quantities disagree with the reservations")
        return problems

    # -- internals -----------------------------------------------------------------

    def _open(self) -> _Txn:
        if self._txn is None:
            raise NoTransaction("begin() a transaction first")
        return self._txn

    def _touch(self, order_id: str) -> None:
        txn = self._open()
        if order_id not in txn.touched:
            txn.touched[order_id] = self._orders.get(order_id)

    def _set_counts(self, counts: Counts) -> None:
        self.stock, self.available, self.held, self.sold = (
            counts.stock,
            counts.available,
            counts.held,
            counts.sold,
        )

    def _put(self, r: Reservation) -> None:
        self._orders[r.order_id] = r
        self._by_key[(r.user_id, r.key)] = r.order_id
        if r.status is not OrderStatus.CANCELLED:
            self._user_qty[r.user_id] = self._user_qty.get(r.user_id, 0) + r.quantity

    def _drop(self, r: Reservation) -> None:
        del self._orders[r.order_id]
        del self._by_key[(r.user_id, r.key)]
        if r.status is not OrderStatus.CANCELLED:
            left = self._user_qty[r.user_id] - r.quantity
            if left:
                self._user_qty[r.user_id] = left
            else:
                del self._user_qty[r.user_id]
