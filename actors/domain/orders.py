"""Orders as values: a reservation, its status, the outcome of a command on it, a
shard's counts, and the purchase request and answer that cross the replica-shard call.

Standard library only. The ledger decides; these are what it decides about.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from actors.domain.wire import compact_pickle


class OrderStatus(StrEnum):
    RESERVED = "reserved"
    PAID = "paid"
    CANCELLED = "cancelled"


class Refusal(StrEnum):
    LIMIT_EXCEEDED = "limit_exceeded"
    SOLD_OUT = "sold_out"  # this shard has too little; the deal may still have stock
    KEY_REUSED = "key_reused"  # same idempotency key, different request
    UNKNOWN_ORDER = "unknown_order"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_PAID = "order_paid"
    NOT_DUE = "not_due"  # a deadline fired before the order's pay_by (a clock ahead)


@compact_pickle
@dataclass(frozen=True, slots=True)
class Reservation:
    order_id: str
    user_id: str
    quantity: int
    key: str
    status: OrderStatus
    created_at: float
    pay_by: float
    paid_at: float | None = None
    cancelled_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "user_id": self.user_id,
            "quantity": self.quantity,
            "key": self.key,
            "status": self.status.value,
            "created_at": self.created_at,
            "pay_by": self.pay_by,
            "paid_at": self.paid_at,
            "cancelled_at": self.cancelled_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reservation:
        return cls(**{**data, "status": OrderStatus(data["status"])})


@compact_pickle
@dataclass(frozen=True, slots=True)
class Accepted:
    """The request holds: ``replayed`` when it repeated one already accepted."""

    reservation: Reservation
    replayed: bool = False


@compact_pickle
@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


Outcome = Accepted | Refused


@dataclass(frozen=True, slots=True)
class Counts:
    stock: int
    available: int
    held: int
    sold: int


@compact_pickle
@dataclass(frozen=True, slots=True)
class ReserveRequest:
    user_id: str
    quantity: int
    key: str


@compact_pickle
@dataclass(frozen=True, slots=True)
class ReserveResult:
    outcome: Outcome
    # With a refusal of SOLD_OUT: True when the pool and every sibling were dry too.
    deal_sold_out: bool = False
    # With a refusal of SOLD_OUT: a sibling did not answer, so whether the deal has
    # stock left is unknown; the caller should say "retry", not "sold out".
    uncertain: bool = False
