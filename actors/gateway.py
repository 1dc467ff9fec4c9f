"""Every Ray call flashsale makes, in one place (as Serve's ``ActorReplicaWrapper``).

Actor handles, their cache and its eviction, the detached singletons, the sibling calls
of a refill, the operator's and the audit's calls, and the health probe's question to
the GCS. What sits above (services, routes, tools) sees ports and plain values, so it
is tested without Ray; a unit test fails when a file outside this one calls
``ray.get_actor`` or ``ray.kill`` (tests/unit/test_layers.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import ActorDiedError

from actors.domain.deals import Deal
from actors.domain.orders import Counts, Outcome, ReserveRequest, ReserveResult
from actors.ports import ShardUnavailable
from actors.shard_actor import StockShard
from cluster import names
from cluster.settings import Settings

logger = logging.getLogger("flashsale.gateway")


class RaySiblings:
    """A shard's siblings by name, for refills. Plain values only: it is handed to the
    shard actor as a constructor argument, so the actor needs no import of this module."""

    def __init__(self, deal_id: str, namespace: str) -> None:
        self._deal_id = deal_id
        self._namespace = namespace

    async def donate(self, shard: int, at_least: int) -> int:
        handle = ray.get_actor(names.stock_shard(self._deal_id, shard), namespace=self._namespace)
        units: int = await handle.donate.remote(at_least)
        return units


def shard_handle(
    settings: Settings, deal: Deal, shard: int, *, namespace: str = names.NAMESPACE
) -> Any:
    """The shard's actor, created (detached) if it does not exist yet. Ray spreads
    shards over the nodes that offer the worker resource: a hot deal's shards, and the
    deals, then share the load of several nodes, and a lost node takes a share of them
    with it, not all (one node, locally or alone: no change)."""
    return StockShard.options(
        name=names.stock_shard(deal.deal_id, shard),
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        resources=names.WORKER_SLIVER,
        scheduling_strategy="SPREAD",
    ).remote(settings, deal, shard, RaySiblings(deal.deal_id, namespace))


class ShardGateway:
    """The stock shards of every deal, as the services see them (``ports.Shards``).

    Handles are cached per (deal, shard). A shard that is gone for good (killed by an
    operator, or lost with its node) raises ``ActorDiedError``: the deal's handles are
    dropped and the call is made once more on the copy found (or made) by name, which
    reloads its checkpoint. Every shard method is idempotent (a reservation by its key,
    pay and cancel by their order), so a call that died with its actor is safe to make
    again, and the buyer sees one slower answer instead of a 503. One that was
    superseded raises a non-retriable error: the handles are dropped and the caller
    gets a 503; its retry finds the current copy.
    """

    def __init__(self, settings: Settings, *, namespace: str = names.NAMESPACE) -> None:
        self._settings = settings
        self._namespace = namespace
        self._handles: dict[tuple[str, int], Any] = {}
        self._started: set[str] = set()
        # An actor call may wait out a shard restart (Ray retries it); past this, 503.
        self._timeout_s = settings.call_timeout_s * 5

    def _handle(self, deal: Deal, shard: int) -> Any:
        key = (deal.deal_id, shard)
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = shard_handle(
                self._settings, deal, shard, namespace=self._namespace
            )
        return found

    def started(self, deal_id: str) -> bool:
        return deal_id in self._started

    async def start(self, deal: Deal) -> None:
        await self._call(
            deal, lambda: [self._handle(deal, n).counts.remote() for n in range(deal.shards)]
        )
        self._started.add(deal.deal_id)

    async def reserve(
        self, deal: Deal, shard: int, requests: list[ReserveRequest]
    ) -> list[ReserveResult]:
        timeout_s = self._settings.payment_timeout_s
        (results,) = await self._call(
            deal, lambda: [self._handle(deal, shard).reserve_many.remote(requests, timeout_s)]
        )
        return results  # type: ignore[no-any-return]

    async def pay(self, deal: Deal, shard: int, order_id: str, user_id: str) -> Outcome:
        (outcome,) = await self._call(
            deal, lambda: [self._handle(deal, shard).pay.remote(order_id, user_id)]
        )
        return outcome  # type: ignore[no-any-return]

    async def cancel(self, deal: Deal, shard: int, order_id: str, user_id: str) -> Outcome:
        (outcome,) = await self._call(
            deal, lambda: [self._handle(deal, shard).cancel.remote(order_id, user_id)]
        )
        return outcome  # type: ignore[no-any-return]

    async def expire_many(self, deal: Deal, shard: int, order_ids: list[str]) -> list[Outcome]:
        (outcomes,) = await self._call(
            deal, lambda: [self._handle(deal, shard).expire_many.remote(order_ids)]
        )
        return outcomes  # type: ignore[no-any-return]

    async def stats(self, deal: Deal) -> list[tuple[Counts, int]]:
        return await self._call(
            deal, lambda: [self._handle(deal, n).stats.remote() for n in range(deal.shards)]
        )

    async def stop(self, deal: Deal) -> None:
        self._evict(deal)
        for n in range(deal.shards):
            try:
                actor = ray.get_actor(names.stock_shard(deal.deal_id, n), namespace=self._namespace)
            except ValueError:
                continue  # not running
            ray.kill(actor)

    def _evict(self, deal: Deal) -> None:
        self._started.discard(deal.deal_id)
        for n in range(deal.shards):
            self._handles.pop((deal.deal_id, n), None)

    async def _call(self, deal: Deal, calls: Callable[[], list[Any]]) -> list[Any]:
        """``calls()`` made on the deal's shards; made once more, on fresh handles, if a
        shard turns out to be dead (see the class docstring)."""
        try:
            return await self._gather(deal, calls)
        except ActorDiedError:
            self._evict(deal)
        try:
            return await self._gather(deal, calls)
        except ActorDiedError as exc:
            self._evict(deal)
            raise ShardUnavailable(f"a shard of {deal.deal_id} is gone: {exc}") from exc

    async def _gather(self, deal: Deal, calls: Callable[[], list[Any]]) -> list[Any]:
        try:
            # Making the calls is inside: a handle made anew looks the shard up by
            # name in the GCS, which can fail (the GCS restarting) like the call itself.
            refs = calls()
            return list(await asyncio.wait_for(asyncio.gather(*refs), self._timeout_s))
        except ActorDiedError:
            raise
        except Exception as exc:
            # A Ray task error is also an instance of the shard's own error class, so
            # its ``retriable`` flag reads through (ports.StoreError).
            cause = getattr(exc, "cause", None) or exc  # a Ray task error carries the shard's
            if getattr(cause, "retriable", True) is False:
                self._evict(deal)
            # A shard whose Redis breaker is open says when it will probe again.
            retry_after_s = float(getattr(cause, "retry_after_s", 0.0) or 0.0)
            raise ShardUnavailable(f"{type(exc).__name__}: {exc}", retry_after_s) from exc


# -- the cluster's one-of-a-kind actors ----------------------------------------------


def _singleton(actor: Any, name: str, settings: Settings) -> Any:
    """The detached actor of that name in flashsale's namespace, made if it does not
    exist yet: every ingress replica asks, the first one makes it."""
    return actor.options(
        name=name,
        namespace=names.NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        resources=names.WORKER_SLIVER,
    ).remote(settings)


def publisher_handle(settings: Settings) -> Any:
    from actors.relay_actor import OrderPublisher

    return _singleton(OrderPublisher, names.ORDER_PUBLISHER, settings)


def sink_handle(settings: Settings) -> Any:
    from actors.sink_actor import OrderSink

    return _singleton(OrderSink, names.ORDER_SINK, settings)


def clock_handle(settings: Settings) -> Any:
    # Imported here: the clock actor itself builds a ShardGateway from this module.
    from actors.clock_actor import DealClock

    return _singleton(DealClock, names.DEAL_CLOCK, settings)


def ensure_singletons(settings: Settings) -> None:
    """The order pipeline's actors and the clock run once per cluster; every replica
    makes sure they exist."""
    publisher_handle(settings)
    sink_handle(settings)
    clock_handle(settings)


# -- tools: the CLI, the audit and the health probe (blocking, outside a replica) ------


def hold_relay(settings: Settings, seconds: float) -> float:
    held: float = ray.get(
        publisher_handle(settings).hold.remote(seconds), timeout=settings.call_timeout_s * 20
    )
    return held


def live_counts(settings: Settings, deal_id: str, shard: int) -> Counts | None:
    """The counts of a shard that runs now; None if it does not (none is started)."""
    try:
        handle = ray.get_actor(names.stock_shard(deal_id, shard), namespace=names.NAMESPACE)
    except ValueError:
        return None  # not running: its checkpoint is the whole truth
    counts: Counts = ray.get(handle.counts.remote(), timeout=settings.call_timeout_s * 5)
    return counts


async def live_nodes() -> int:
    """How many Ray nodes the GCS reports alive: it answers only while the cluster does."""
    nodes = await asyncio.to_thread(ray.nodes)
    return sum(1 for n in nodes if n.get("Alive"))
