"""What a use case answers when it does not succeed: a ``Failure`` naming a ``Problem``.

Outcomes are values (STYLE habit 3); serve_app/errors.py alone turns each problem into
an HTTP status, code and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from actors.domain.orders import Refusal


class Problem(StrEnum):
    # the shard's refusals, by the same names (actors/domain/orders.py)
    LIMIT_EXCEEDED = Refusal.LIMIT_EXCEEDED.value
    SOLD_OUT = Refusal.SOLD_OUT.value
    KEY_REUSED = Refusal.KEY_REUSED.value
    UNKNOWN_ORDER = Refusal.UNKNOWN_ORDER.value
    ORDER_CANCELLED = Refusal.ORDER_CANCELLED.value
    ORDER_PAID = Refusal.ORDER_PAID.value
    # the storefront's own
    UNKNOWN_DEAL = "unknown_deal"
    UNKNOWN_PRODUCT = "unknown_product"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    PAYMENT_DECLINED = "payment_declined"
    INVALID_DEAL = "invalid_deal"
    USERNAME_TAKEN = "username_taken"
    BAD_CREDENTIALS = "bad_credentials"


@dataclass(frozen=True, slots=True)
class Failure:
    problem: Problem
    detail: str = ""  # what the message names (a deal id, a start time, the bad terms)
    retry_after_s: float | None = None


# The shard's refusals a buyer can be told (NOT_DUE is the clock's alone).
REFUSALS = tuple(r for r in Refusal if r.value in set(Problem))
_REFUSED = {reason: Failure(Problem(reason.value)) for reason in REFUSALS}


def refused(reason: Refusal) -> Failure:
    return _REFUSED[reason]
