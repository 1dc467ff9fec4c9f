"""The purchase use case, and the per-shard batching of one replica's purchases.

``PurchaseService.purchase`` runs on every purchase (the FastAPI route and the fast path
both call it), so its checks run cheapest first and everything that can be answered
without an actor is: the rate, the window, sold out, the per-buyer limit.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from actors.domain.deals import Deal, shard_for_user
from actors.domain.orders import Accepted, Refusal, ReserveRequest, ReserveResult
from actors.ports import Shards, ShardUnavailable
from actors.services.deal_lifecycle import DealLifecycle
from cluster.settings import Settings
from serve_app.batcher import CallBatcher
from serve_app.metrics import NO_DEAL, PurchaseMetrics
from serve_app.rate_limits import RateLimits
from serve_app.services.catalog import Catalog
from serve_app.services.outcomes import Failure, Problem, refused
from serve_app.services.sold_out import SoldOutBoard
from serve_app.timefmt import iso

# Ids this shop could have issued: anything else is unknown without a lookup (and never
# fills the catalogue's negative cache).
DEAL_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
UNAVAILABLE = Failure(Problem.UNAVAILABLE, retry_after_s=1.0)
ENDED = Failure(Problem.ENDED)
SOLD_OUT = refused(Refusal.SOLD_OUT)
LIMIT_EXCEEDED = refused(Refusal.LIMIT_EXCEEDED)


class Reserved:
    __slots__ = ("order_id", "pay_by", "replayed")

    def __init__(self, order_id: str, pay_by: float, replayed: bool) -> None:
        self.order_id = order_id
        self.pay_by = pay_by
        self.replayed = replayed  # a repeated Idempotency-Key: the first answer again


class Purchaser:
    """One replica's purchases: one actor call per shard carries every purchase that
    arrived while that shard's previous calls were out (serve_app/batcher.py).

    A shard whose Redis breaker is open says when it will let a probe through; until
    then this replica answers that shard's purchases itself, as unavailable, without
    calling it. Calling would only carry the same answer back as a Ray task error,
    which costs the replica and the shard more than the purchase's own work, in an
    outage when every buyer retries. The shard's breaker stays the one that decides:
    the replica calls again the moment the shard would probe."""

    def __init__(
        self,
        shards: Shards,
        settings: Settings,
        metrics: PurchaseMetrics,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shards = shards
        self._settings = settings
        self._metrics = metrics
        self._monotonic = monotonic
        self._batchers: dict[tuple[str, int], CallBatcher[ReserveRequest, ReserveResult]] = {}
        self._down_until: dict[tuple[str, int], float] = {}

    async def reserve(self, deal: Deal, request: ReserveRequest) -> ReserveResult:
        shard = shard_for_user(request.user_id, deal.shards)
        key = (deal.deal_id, shard)
        if self._down_until:
            # At once, before the batcher: in an outage every buyer retries, and the drill
            # measured this answer as fast as the trivial endpoint's (0.91-1.00 of its
            # p99); checking only as batches leave (below) measured 1.38.
            self._raise_if_down(key)
        batcher = self._batchers.get(key)
        if batcher is None:
            batcher = self._batchers[key] = CallBatcher(
                lambda requests: self._send(deal, shard, requests),
                max_batch=self._settings.batch_max,
                in_flight=self._settings.batch_concurrency,
            )
        return await batcher.submit(request)

    def _raise_if_down(self, key: tuple[str, int]) -> None:
        until = self._down_until.get(key)
        if until is not None:
            left = until - self._monotonic()
            if left > 0:
                raise ShardUnavailable("the shard's Redis breaker is open", left)
            del self._down_until[key]

    async def _send(
        self, deal: Deal, shard: int, requests: list[ReserveRequest]
    ) -> list[ReserveResult]:
        key = (deal.deal_id, shard)
        if self._down_until:
            # Purchases that queued behind the call that learnt it: none goes out.
            self._raise_if_down(key)
        sent = self._monotonic()  # the shard's count starts after this: never overshoot it
        started = time.perf_counter()
        try:
            return await self._shards.reserve(deal, shard, requests)
        except ShardUnavailable as exc:
            if exc.retry_after_s > 0:
                self._down_until[key] = sent + exc.retry_after_s
            raise
        finally:
            self._metrics.shard_call(len(requests), time.perf_counter() - started)


class PurchaseService:
    def __init__(
        self,
        catalog: Catalog,
        lifecycle: DealLifecycle,
        purchaser: Purchaser,
        sold_out: SoldOutBoard,
        rate_limits: RateLimits,
        metrics: PurchaseMetrics,
    ) -> None:
        self._metrics = metrics
        self._catalog = catalog
        self._lifecycle = lifecycle
        self._purchaser = purchaser
        self._sold_out = sold_out
        self._rate_limits = rate_limits

    async def purchase(
        self, user_id: str, deal_id: str, key: str, quantity: int
    ) -> Reserved | Failure:
        answer = await self._purchase(user_id, deal_id, key, quantity)
        if isinstance(answer, Reserved):
            outcome, deal = ("replayed" if answer.replayed else "reserved"), deal_id
        else:
            # Past these two the deal was found in the catalogue: a bounded label.
            known = answer.problem not in (Problem.RATE_LIMITED, Problem.UNKNOWN_DEAL)
            outcome, deal = answer.problem.value, deal_id if known else NO_DEAL
        self._metrics.answered(outcome, deal)
        return answer

    async def _purchase(
        self, user_id: str, deal_id: str, key: str, quantity: int
    ) -> Reserved | Failure:
        retry_after = await self._rate_limits.admit(user_id)
        if retry_after is not None:
            return Failure(Problem.RATE_LIMITED, retry_after_s=retry_after)
        deal = await self._catalog.deal(deal_id) if DEAL_ID.fullmatch(deal_id) else None
        if deal is None:
            return Failure(Problem.UNKNOWN_DEAL, deal_id)
        now = time.time()
        if now < deal.starts_ts:
            return Failure(Problem.NOT_STARTED, iso(deal.starts_ts))
        ended = now >= deal.ends_ts
        if ended or self._sold_out.is_sold_out(deal.deal_id):
            # No actor call for these; a repeated key still gets its first answer.
            first = await self._sold_out.first_answer(deal.deal_id, user_id, key)
            if first is not None:
                return Reserved(*first, replayed=True)
            return ENDED if ended else SOLD_OUT
        if quantity > deal.per_user_limit:
            return LIMIT_EXCEEDED
        try:
            await self._lifecycle.preheat(deal)
            result = await self._purchaser.reserve(deal, ReserveRequest(user_id, quantity, key))
        except ShardUnavailable as exc:
            if exc.retry_after_s > 1.0:
                return Failure(Problem.UNAVAILABLE, retry_after_s=exc.retry_after_s)
            return UNAVAILABLE
        outcome = result.outcome
        if isinstance(outcome, Accepted):
            r = outcome.reservation
            return Reserved(r.order_id, r.pay_by, outcome.replayed)
        if result.uncertain:
            return UNAVAILABLE
        if result.deal_sold_out:
            await self._sold_out.mark(deal.deal_id)
        return refused(outcome.reason)
