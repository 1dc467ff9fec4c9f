"""What the actors need from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from actors.domain.deals import Deal
from actors.domain.ledger import Changes
from actors.domain.orders import Counts, Outcome, Reservation, ReserveRequest, ReserveResult
from actors.domain.timers import Timer


class StoreError(Exception):
    """A checkpoint could not be read or written. ``retriable``: the same call may
    succeed later; when False, this copy of the shard can never answer again (the
    gateway then drops its handle and finds the current copy by name)."""

    retriable = True


class Fenced(StoreError):
    """Another copy of this shard took over (a newer epoch): this copy must stop selling."""

    retriable = False


class DependencyDown(StoreError):
    """A dependency's circuit breaker is open (actors/adapters/breakers.py): the call was
    not made. ``args``: (message, seconds until the breaker lets a probe through)."""

    retriable = True

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a dependency is unavailable"

    @property
    def retry_after_s(self) -> float:
        return float(self.args[1]) if len(self.args) > 1 else 0.0


class OutboxFull(StoreError):
    """The deal's outbox holds as many events as allowed (Kafka is behind or away):
    the write was refused whole; writes that create no order may go on."""


class PoolShort(StoreError):
    """The deal's pool held fewer units than the write took; re-read and try again."""


class ShardUnavailable(Exception):
    """A shard did not answer in time, or cannot sell now (fenced, Redis down, gone).
    The caller may retry (the buyer with the same Idempotency-Key). ``args``: (message,
    seconds after which a retry may succeed, when known)."""

    retriable = True

    @property
    def retry_after_s(self) -> float:
        return float(self.args[1]) if len(self.args) > 1 else 0.0


class Clock(Protocol):
    def now(self) -> float: ...


class Siblings(Protocol):
    async def donate(self, shard: int, at_least: int) -> int:
        """Ask a sibling shard to move available units to the deal's pool."""
        ...


@dataclass(frozen=True, slots=True)
class ShardSnapshot:
    counts: Counts | None  # None: the shard was never written
    reservations: list[Reservation]
    pool: int


class CheckpointStore(Protocol):
    async def take_epoch(self, deal_id: str, shard: int) -> int: ...

    async def load(self, deal_id: str, shard: int) -> ShardSnapshot: ...

    async def pool(self, deal_id: str) -> int: ...

    async def commit(self, deal_id: str, shard: int, epoch: int, changes: Changes) -> None: ...


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    entry_id: str  # the stream's id, to delete it once Kafka has it
    order_id: str  # the Kafka key: one order's events stay in order on one partition
    payload: bytes  # the event, versioned JSON, as the shard wrote it


class Outbox(Protocol):
    async def take(self, limit: int, total: int) -> dict[str, list[OutboxEntry]]:
        """The oldest events, up to ``limit`` a deal and ``total`` in all, of the deals
        marked as having some, each deal's in order; each call starts at another deal,
        so that none waits long behind busier ones. A marked deal found empty is
        unmarked in the same step, until its next event."""
        ...

    async def acknowledge(self, through: dict[str, str]) -> None:
        """Kafka has each deal's events up to and including this entry id (the head of
        its outbox): they leave it, and a deal left empty is unmarked."""
        ...

    async def sweep(self) -> int:
        """Mark every known deal whose outbox holds events but is not in ``deals``
        (written by a shard that predates the marks); returns how many it marked."""
        ...


class EventPublisher(Protocol):
    async def publish(self, entries: list[OutboxEntry]) -> None:
        """Return only when the broker has acknowledged every entry (acks=all)."""
        ...


class EventSource(Protocol):
    async def fetch(self, max_records: int, wait_ms: int) -> list[dict[str, Any]]: ...

    async def commit(self) -> None:
        """Mark everything fetched so far as done (only after it is durable downstream)."""
        ...


class OrderStore(Protocol):
    async def apply(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write the events' orders in one transaction; replaying any of them is harmless.
        Returns the events whose rows the store refused as data (they can never be
        written, so retrying would stop the pipeline for good); the rest are written."""
        ...


class Timers(Protocol):
    async def schedule(self, timer: Timer, at: float) -> None: ...

    async def schedule_many(self, when: dict[Timer, float]) -> None: ...

    async def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        """(member, when) of the timers due by ``now``, earliest first."""
        ...

    async def done(self, member: str) -> None: ...

    async def done_many(self, members: list[str]) -> None: ...

    async def postpone(self, member: str, at: float) -> None: ...


class DealStore(Protocol):
    """A deal's keys outside its shards' checkpoints (actors/adapters/redis_deals.py)."""

    async def open_pool(self, deal: Deal) -> None: ...

    async def cached(self, deal_id: str) -> Deal | None: ...

    async def held(self, deal: Deal) -> int:
        """Units held by unpaid orders, over all the deal's shards (their checkpoints)."""
        ...

    async def close_outbox(self, deal_id: str) -> None:
        """Stop relaying the deal's outbox if it is empty (its shards are stopped)."""
        ...


class Shards(Protocol):
    """The stock shards as the services see them (actors/gateway.py, over Ray)."""

    def started(self, deal_id: str) -> bool: ...

    async def start(self, deal: Deal) -> None:
        """Make sure every shard of the deal runs (each loads its checkpoint)."""
        ...

    async def reserve(
        self, deal: Deal, shard: int, requests: list[ReserveRequest]
    ) -> list[ReserveResult]: ...

    async def pay(self, deal: Deal, shard: int, order_id: str, user_id: str) -> Outcome: ...

    async def cancel(self, deal: Deal, shard: int, order_id: str, user_id: str) -> Outcome: ...

    async def expire_many(self, deal: Deal, shard: int, order_ids: list[str]) -> list[Outcome]: ...

    async def stats(self, deal: Deal) -> list[tuple[Counts, int]]:
        """(counts, cancelled orders) of every shard."""
        ...

    async def stop(self, deal: Deal) -> None:
        """Stop every shard of the deal (their checkpoints stay)."""
        ...


class ClockActions(Protocol):
    """What the DealClock's timers do; each must be harmless when done twice."""

    async def preheat(self, deal_id: str) -> None: ...

    async def expire_many(self, deal_id: str, shard: int, order_ids: list[str]) -> list[Outcome]:
        """One outcome per order, in order (see ShardService.expire_many)."""
        ...

    async def retire(self, deal_id: str) -> bool:
        """Stop the deal's shards if none holds an unpaid order; False: not yet."""
        ...
