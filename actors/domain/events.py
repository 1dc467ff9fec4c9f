"""Order events, as they go to the outbox and on to Kafka: versioned JSON-ready dicts.

Version 1. A consumer must ignore fields it does not know; a change that removes or
redefines a field bumps ``v``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.domain.ledger import Reservation

VERSION = 1


def order_created(deal_id: str, r: Reservation, price_cents: int) -> dict[str, Any]:
    return {
        "v": VERSION,
        "type": "created",
        "order_id": r.order_id,
        "deal_id": deal_id,
        "user_id": r.user_id,
        "quantity": r.quantity,
        "amount_cents": r.quantity * price_cents,
        "created_at": r.created_at,
        "pay_by": r.pay_by,
    }


def order_paid(deal_id: str, r: Reservation) -> dict[str, Any]:
    return {
        "v": VERSION,
        "type": "paid",
        "order_id": r.order_id,
        "deal_id": deal_id,
        "at": r.paid_at,
    }


def order_cancelled(deal_id: str, r: Reservation) -> dict[str, Any]:
    return {
        "v": VERSION,
        "type": "cancelled",
        "order_id": r.order_id,
        "deal_id": deal_id,
        "at": r.cancelled_at,
    }
