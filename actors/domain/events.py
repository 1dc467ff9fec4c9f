"""Order events, as they go to the outbox and on to Kafka: versioned JSON-ready dicts.

Version 1. Every event carries the whole order as it stands after the event, so a
consumer can write the order from any one of them, in any order of arrival: a `paid`
that overtakes its `created` still makes a complete row. A consumer must ignore fields
it does not know; a change that removes or redefines a field bumps ``v``.
"""

from __future__ import annotations

from typing import Any

from actors.domain.orders import Reservation

VERSION = 1
CREATED, PAID, CANCELLED = "created", "paid", "cancelled"
# The order as every version-1 event carries it (and as the sink writes it, in order).
ORDER_FIELDS = (
    "order_id",
    "deal_id",
    "user_id",
    "quantity",
    "amount_cents",
    "status",
    "created_at",
    "pay_by",
    "paid_at",
    "cancelled_at",
)
TIME_FIELDS = frozenset(("created_at", "pay_by", "paid_at", "cancelled_at"))


def order_event(kind: str, deal_id: str, r: Reservation, price_cents: int) -> dict[str, Any]:
    return {
        "v": VERSION,
        "type": kind,
        "order_id": r.order_id,
        "deal_id": deal_id,
        "user_id": r.user_id,
        "quantity": r.quantity,
        "amount_cents": r.quantity * price_cents,
        "status": r.status.value,
        "created_at": r.created_at,
        "pay_by": r.pay_by,
        "paid_at": r.paid_at,
        "cancelled_at": r.cancelled_at,
    }
