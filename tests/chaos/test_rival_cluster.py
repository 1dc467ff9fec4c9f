"""Two copies of a shard racing in two Ray clusters against one Redis, over HTTP: the
situation of a RayService upgrade, when the new cluster serves before the old one is
deleted. The new cluster's shard takes a newer epoch; from then on every commit of the
old copy is refused (fenced), so the old cluster answers 503 and its buyers, moved to
the new one with the same Idempotency-Key, lose nothing and buy nothing twice.

The second cluster is a second Ray head on this machine (other ports, its own state
dir) sharing our Redis, MariaDB and Kafka, as both clusters of an upgrade do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cluster.local import stack as local_stack
from cluster.local.ray_head import RayHead
from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import Buyer, buy_all, buyers, gateway_failure, pay
from tests.e2e.api_client import bearer, client, create_deal, purchase, stats

STOCK = 200
# Ports of the rival cluster: none of ours, none in Ray's default worker port range.
RIVAL_PORTS = {
    "ray_port": 6479,
    "dashboard_port": 8365,
    "ray_client_port": 23001,
    "ray_agent_port": 52465,
    "serve_fallback_port": 8600,
    "serve_replica_port": 31500,
    "http_port": 8100,
    "haproxy_stats_port": 8504,
    "haproxy_metrics_port": 9201,
}


@pytest.fixture(scope="module")
def rival(drill: Settings) -> Iterator[Settings]:
    settings = drill.model_copy(
        update={
            **RIVAL_PORTS,
            "ray_address": f"127.0.0.1:{RIVAL_PORTS['ray_port']}",
            "state_dir": str(Path(drill.state_dir) / "rival"),
            # Our data services (and Prometheus, and the GCS's Redis: each cluster keeps
            # its tables under a namespace of its own), as the new cluster of an upgrade
            # uses the old one's.
            "given": drill.given
            | {"REDIS_URL", "MYSQL_DSN", "KAFKA_BOOTSTRAP", "PROMETHEUS_URL", "RAY_REDIS_ADDRESS"},
        }
    )
    yield settings
    RayHead(settings).kill_cluster()  # the upgrade's end: the other cluster is deleted


@dataclass
class Answer:
    cluster: str
    status: int
    sent: float
    received: float


@dataclass
class Buyers:
    """Buyers that start on one cluster and move to the other after a few refusals,
    as traffic moves from an old cluster to the new one; always with the same key."""

    apis: dict[str, httpx.AsyncClient]
    answers: list[Answer] = field(default_factory=list)
    orders: dict[str, str] = field(default_factory=dict)  # buyer -> the one order
    paid: set[str] = field(default_factory=set)

    async def _call(
        self, b: Buyer, start: str, do: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
    ) -> tuple[str, httpx.Response]:
        where = start
        for attempt in range(40):
            sent = time.monotonic()
            response = await do(self.apis[where])
            self.answers.append(Answer(where, response.status_code, sent, time.monotonic()))
            if not gateway_failure(response):
                return where, response
            if attempt % 3 == 2:
                where = "new" if where == "old" else "old"
            await asyncio.sleep(0.2)
        raise AssertionError(f"{b.user_id} got no answer from either cluster")

    async def buy_and_pay(self, deal_id: str, b: Buyer, start: str) -> str:
        """-> the cluster that sold (or refused) it."""
        where, bought = await self._call(b, start, lambda api: purchase(api, deal_id, b.token, "k"))
        if bought.status_code not in (200, 201):
            assert bought.status_code == 410, bought.text  # sold out
            return where
        order = bought.json()["order_id"]
        # One key, one order, whichever cluster answered.
        assert self.orders.setdefault(b.user_id, order) == order
        _, paid = await self._call(
            b, where, lambda api: api.post(f"/api/orders/{order}/pay", headers=bearer(b.token))
        )
        assert paid.status_code == 200, paid.text
        self.paid.add(order)
        return where


@pytest.mark.timeout(600)
async def test_a_shard_copy_in_a_second_cluster_fences_the_first_over_http(
    drill: Settings, rival: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    deal = await create_deal(api, admin_token, stock=STOCK, limit=1)
    deal_id = deal["deal_id"]
    # The old cluster sells first: its shard copy exists and has committed.
    early = buyers(drill, 20)
    await buy_all(drill, deal_id, early, in_flight=20, then=pay)
    assert {b.status for b in early} == {201}, [b.status for b in early]

    began = time.monotonic()
    await asyncio.to_thread(local_stack.up, rival)  # only its Ray: the data is ours
    print(f"\nthe second cluster served {time.monotonic() - began:.1f} s after its start")

    async with (
        client(drill, timeout_s=30, connections=10) as old,
        client(rival, timeout_s=30, connections=10) as new,
    ):
        crowd = Buyers({"old": old, "new": new})
        # The new cluster sells: its copy takes a newer epoch (if its clock's preheat
        # has not made it already) and commits.
        (probe, stranger) = buyers(drill, 2)
        assert await crowd.buy_and_pay(deal_id, probe, "new") == "new"
        assert crowd.answers[0].status == 201, crowd.answers
        first_new = crowd.answers[0].received
        # The old copy is fenced now: the old cluster refuses, and sells nothing.
        refused = await purchase(old, deal_id, stranger.token, "k")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "unavailable"
        again = await purchase(new, deal_id, stranger.token, "k")
        assert again.status_code == 201, again.text  # a new order: the refusal made none
        await pay(new, Buyer(stranger.user_id, stranger.token, 201, again.json()))

        people = buyers(drill, 300)
        # Half start on each cluster, all at once, as during an upgrade's switch.
        await asyncio.gather(
            *(
                crowd.buy_and_pay(deal_id, b, "old" if i % 2 else "new")
                for i, b in enumerate(people)
            )
        )
        fenced = [a for a in crowd.answers if a.cluster == "old" and a.status == 503]
        assert fenced, "premise: buyers met the old cluster after the fence"
        # Nothing sent to the old cluster after the new copy sold was sold there.
        late_old = [
            a
            for a in crowd.answers
            if a.cluster == "old" and a.status in (200, 201) and a.sent > first_new
        ]
        assert not late_old, f"the old copy sold after it was fenced: {late_old[:3]}"

        figures = await stats(new, admin_token, deal_id)
        print(
            f"answers: old {sum(a.cluster == 'old' for a in crowd.answers)} "
            f"({len(fenced)} 503s), new {sum(a.cluster == 'new' for a in crowd.answers)}; "
            f"stats {figures}"
        )
        sold = len(crowd.paid) + len(early) + 1  # the stranger's
        assert sold == STOCK, (sold, figures)
        assert (figures["sold"], figures["held"], figures["available"]) == (STOCK, 0, 0)
        for b in people:
            if b.user_id in crowd.orders:
                seen = await new.get(
                    f"/api/orders/{crowd.orders[b.user_id]}", headers=bearer(b.token)
                )
                assert seen.json()["status"] == "paid", seen.text
    # Every acknowledged order in MySQL exactly once, read through the new cluster.
    await audit(rival, deal_id)
