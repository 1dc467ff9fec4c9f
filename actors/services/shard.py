"""One shard of one deal: the ledger, persisted by group commit, refilled from siblings.

No Ray here (actors/shard_actor.py wraps it), so it is tested with a fake store and clock.

Group commit: every command becomes a closure on the ledger queued for the committer.
The committer runs all queued closures in one ledger transaction, writes the changes in
one checkpoint call, and only then commits the transaction and answers each caller:
persist, then apply, then answer. Commands that arrive while a write is in flight form
the next group, so the number of Redis round trips follows the load, not the requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from actors.domain.deals import Deal, split_stock
from actors.domain.ledger import Ledger
from actors.domain.orders import (
    Counts,
    OrderStatus,
    Outcome,
    Refusal,
    Refused,
    Reservation,
    ReserveRequest,
    ReserveResult,
)
from actors.ports import (
    CheckpointStore,
    Clock,
    DependencyDown,
    Fenced,
    OutboxFull,
    PoolShort,
    Siblings,
    StoreError,
)

logger = logging.getLogger("flashsale.shard")
_REFILL_ROUNDS = 4
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Queued:
    command: Callable[[Ledger], Any]
    future: asyncio.Future[Any]
    creates: bool
    draws: bool  # takes units from the deal's pool


def _creates(queued: _Queued) -> bool:
    return queued.creates


def _draws(queued: _Queued) -> bool:
    return queued.draws


class ShardService:
    def __init__(
        self,
        deal: Deal,
        shard: int,
        store: CheckpointStore,
        siblings: Siblings,
        clock: Clock,
        new_order_id: Callable[[], str],
        payment_timeout_s: float,
    ) -> None:
        self.deal = deal
        self.shard = shard
        self._store = store
        self._siblings = siblings
        self._clock = clock
        self._new_order_id = new_order_id
        self._payment_timeout_s = payment_timeout_s
        self._ledger = Ledger(deal.deal_id, shard, deal.per_user_limit, deal.price_cents)
        self._epoch = 0
        self._fenced: Fenced | None = None
        # A write whose outcome is unknown (connection lost mid-call) may have landed:
        # memory is then not to be trusted until reloaded from the checkpoint.
        self._stale = False
        self._queue: list[_Queued] = []
        self._committer: asyncio.Task[None] | None = None
        self._refill_lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Take a new epoch (fencing off any older copy), then load or first allocate."""
        self._epoch = await self._store.take_epoch(self.deal.deal_id, self.shard)
        if not await self._load():
            share = split_stock(self.deal.stock, self.deal.shards)[self.shard]
            await self._take_from_pool(share)

    async def _load(self) -> bool:
        """Replace the ledger by the checkpoint; False if the shard was never written."""
        snapshot = await self._store.load(self.deal.deal_id, self.shard)
        self._ledger = Ledger(
            self.deal.deal_id, self.shard, self.deal.per_user_limit, self.deal.price_cents
        )
        if snapshot.counts is None:
            return False
        self._ledger = Ledger.restore(
            self.deal.deal_id,
            self.shard,
            self.deal.per_user_limit,
            self.deal.price_cents,
            snapshot.counts,
            snapshot.reservations,
        )
        return True

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def fenced(self) -> bool:
        return self._fenced is not None

    # -- commands ------------------------------------------------------------------

    async def reserve_many(
        self, requests: list[ReserveRequest], payment_timeout_s: float | None = None
    ) -> list[ReserveResult]:
        """``payment_timeout_s`` comes from the caller's settings, so a changed setting
        reaches shards that were started before the change."""
        now = self._clock.now()
        timeout_s = payment_timeout_s if payment_timeout_s is not None else self._payment_timeout_s

        def reserve(ledger: Ledger, r: ReserveRequest) -> Outcome:
            return ledger.reserve(
                user_id=r.user_id,
                quantity=r.quantity,
                key=r.key,
                order_id=self._new_order_id(),
                now=now,
                pay_by=now + timeout_s,
            )

        outcomes = await self._run(
            lambda ledger: [reserve(ledger, r) for r in requests], creates=True
        )
        dry = Refused(Refusal.SOLD_OUT)
        # Short requests wait for stock from the pool or the siblings, a few rounds at
        # most (a round's units can be taken by a sibling's own refill meanwhile). Only
        # a refill that found the whole deal dry makes "sold out" an answer; otherwise
        # what is still short is "retry".
        found: bool | None = True
        for _ in range(_REFILL_ROUNDS):
            short = [i for i, o in enumerate(outcomes) if o == dry]
            if not short:
                break
            found = await self._refill(sum(requests[i].quantity for i in short))
            if not found:
                break
            retried = await self._run(
                lambda ledger, short=short: [reserve(ledger, requests[i]) for i in short],
                creates=True,
            )
            for i, outcome in zip(short, retried, strict=True):
                outcomes[i] = outcome
        else:
            found = None if any(o == dry for o in outcomes) else found
        return [
            ReserveResult(
                o,
                deal_sold_out=o == dry and found is False,
                uncertain=o == dry and found is not False,
            )
            for o in outcomes
        ]

    async def pay(self, order_id: str, user_id: str) -> Outcome:
        return await self._run(lambda ledger: self._owned(ledger, order_id, user_id, "pay"))

    async def cancel(self, order_id: str, user_id: str) -> Outcome:
        return await self._run(lambda ledger: self._owned(ledger, order_id, user_id, "cancel"))

    async def expire_many(self, order_ids: list[str]) -> list[Outcome]:
        """The payment deadlines' timers: cancel each order unless paid or not yet due
        (then refuse), all in one group commit: a sale's unpaid orders fall due together."""
        now = self._clock.now()
        return await self._run(lambda ledger: [ledger.expire(o, now=now) for o in order_ids])

    async def donate(self, at_least: int) -> int:
        """Give half of what is available (at least ``at_least``) back to the pool."""

        def give(ledger: Ledger) -> int:
            return ledger.give_back(max(at_least, ledger.available // 2))

        return await self._run(give)

    # -- reads (from memory: no I/O) -----------------------------------------------

    def counts(self) -> Counts:
        return self._ledger.counts()

    def order(self, order_id: str) -> Reservation | None:
        return self._ledger.order(order_id)

    def violations(self) -> list[str]:
        return self._ledger.violations()

    def cancelled_orders(self) -> int:
        return sum(1 for r in self._ledger.reservations() if r.status is OrderStatus.CANCELLED)

    # -- internals -----------------------------------------------------------------

    def _owned(self, ledger: Ledger, order_id: str, user_id: str, what: str) -> Outcome:
        found = ledger.order(order_id)
        if found is None or found.user_id != user_id:
            return Refused(Refusal.UNKNOWN_ORDER)  # someone else's order does not exist for you
        now = self._clock.now()
        return (
            ledger.confirm(order_id, now=now)
            if what == "pay"
            else ledger.release(order_id, now=now)
        )

    async def _run(
        self, command: Callable[[Ledger], T], creates: bool = False, draws: bool = False
    ) -> T:
        """``creates``: the command may create orders (whose events the outbox bound
        counts); a group refused for a full outbox is retried without those.
        ``draws``: the command takes units from the pool; a group refused for a short
        pool is retried without those (the buyers in it must not pay for a sibling's
        race to the pool)."""
        if self._fenced is not None:
            raise self._fenced
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(command, future, creates, draws))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_loop())
        return await future

    async def _commit_loop(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            await self._commit_group(group)

    async def _commit_group(self, group: list[_Queued]) -> None:
        if self._stale:
            try:
                await self._load()
                self._stale = False
            except Exception as exc:  # noqa: BLE001 -- still cannot read: fail this group
                # An open breaker's refusal passes as it is: it says when to call again,
                # so callers stop calling until then (serve_app/services/purchase.py).
                failure = (
                    exc
                    if isinstance(exc, DependencyDown)
                    else StoreError(f"reloading the checkpoint failed: {exc!r}")
                )
                for queued in group:
                    if not queued.future.done():
                        queued.future.set_exception(failure)
                return
        ledger = self._ledger
        ledger.begin()
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        for queued in group:
            future = queued.future
            try:
                results.append((future, queued.command(ledger), None))
            except Exception as exc:  # noqa: BLE001 -- a caller's bad command fails that caller only
                results.append((future, None, exc))
        changes = ledger.changes()
        try:
            if changes.reservations or changes.pool_delta or changes.events:
                await self._store.commit(self.deal.deal_id, self.shard, self._epoch, changes)
        except BaseException as exc:
            ledger.rollback()
            if isinstance(exc, (OutboxFull, PoolShort)):
                # Refused whole for what some commands do (create orders while Kafka is
                # behind; draw on a pool a sibling emptied): those fail, and the rest of
                # the group (pay, cancel, deadlines; the buyers beside a refill) runs again.
                refused = _creates if isinstance(exc, OutboxFull) else _draws
                for queued in group:
                    if refused(queued) and not queued.future.done():
                        queued.future.set_exception(exc)
                self._queue[:0] = [q for q in group if not refused(q)]
                return
            if not isinstance(exc, (Fenced, DependencyDown)):
                # Refused writes changed nothing, and a breaker sent none; others may have.
                self._stale = True
            if isinstance(exc, Fenced):
                logger.error("shard %s/%s fenced: stops selling", self.deal.deal_id, self.shard)
                self._fenced = exc
            failure = (
                exc if isinstance(exc, StoreError) else StoreError(f"checkpoint failed: {exc!r}")
            )
            for future, _, _ in results:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        ledger.commit()
        for future, value, error in results:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    async def _take_from_pool(self, want: int) -> int:
        for _ in range(5):
            available = await self._store.pool(self.deal.deal_id)
            take = min(available, want)
            if take <= 0:
                return 0
            try:
                await self._run(lambda ledger, units=take: ledger.add_stock(units), draws=True)
            except PoolShort:
                continue  # a sibling took from the pool meanwhile: read it again
            return take
        return 0

    async def _refill(self, need: int) -> bool | None:
        """Find more units (up to ``need``): the pool first, then the siblings' spare
        stock. True: some found. False: the pool and every sibling are dry. None:
        nothing found, but a sibling did not answer or units were still moving."""
        async with self._refill_lock:
            if self._ledger.available >= need:
                return True  # a refill that ran while we waited brought enough
            if await self._take_from_pool(need):
                return True
            donated = 0
            silent = False
            for sibling in range(self.deal.shards):
                if sibling == self.shard:
                    continue
                try:
                    donated += await self._siblings.donate(sibling, need)
                except Exception:  # a sibling that cannot answer has nothing to give now
                    silent = True
                    logger.warning(
                        "sibling %s of %s did not donate", sibling, self.deal.deal_id, exc_info=True
                    )
                if donated >= need:
                    break
            if donated > 0:
                # Another shard's refill may take the donated units first: they are then
                # in that shard, still for sale, so this is no "sold out".
                return True if await self._take_from_pool(need) > 0 else None
            return None if silent else False
