"""The DealClock's timers: what is due, as strings a Redis sorted set can hold.

A timer is its own id: the same timer written twice is one member, so scheduling is
idempotent, and firing one twice must be harmless (every action here is).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    PREHEAT = "preheat"  # make the deal's shards and pool ready before it starts
    EXPIRE = "expire"  # cancel an order still unpaid at its deadline
    RETIRE = "retire"  # stop a finished deal's shard processes


@dataclass(frozen=True, slots=True)
class Timer:
    kind: Kind
    deal_id: str
    shard: int = -1  # EXPIRE only
    order_id: str = ""  # EXPIRE only

    def encode(self) -> str:
        if self.kind is Kind.EXPIRE:
            return f"{self.kind}|{self.deal_id}|{self.shard}|{self.order_id}"
        return f"{self.kind}|{self.deal_id}"

    @classmethod
    def decode(cls, raw: str) -> Timer:
        """Raises ValueError for a member this code did not write."""
        parts = raw.split("|")
        kind = Kind(parts[0])
        if kind is Kind.EXPIRE:
            if len(parts) != 4 or not parts[1] or not parts[3]:
                raise ValueError(f"bad expire timer {raw!r}")
            return cls(kind, parts[1], int(parts[2]), parts[3])
        if len(parts) != 2 or not parts[1]:
            raise ValueError(f"bad {kind} timer {raw!r}")
        return cls(kind, parts[1])


def expire(deal_id: str, shard: int, order_id: str) -> Timer:
    return Timer(Kind.EXPIRE, deal_id, shard, order_id)


def preheat(deal_id: str) -> Timer:
    return Timer(Kind.PREHEAT, deal_id)


def retire(deal_id: str) -> Timer:
    return Timer(Kind.RETIRE, deal_id)
