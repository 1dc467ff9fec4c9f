"""A Serve replica SIGKILLed mid-sale with two of them: buyers see retries at most (the
other replica answers, HAProxy drops the dead one), nothing acknowledged is lost, and
Serve starts a replacement."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from cluster.local import stack as local_stack
from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import ABANDONED_CLIENT_SOCKETS, RetryingSale, buyers, until
from tests.e2e.api_client import create_deal

STOCK = 300
REPLICA = "ServeReplica:flashsale:Storefront"


@pytest.fixture(scope="module")
def two_replicas(drill: Settings) -> Iterator[Settings]:
    changed = drill.model_copy(update={"serve_replicas": 2})
    local_stack.up(changed)
    yield changed
    local_stack.up(drill)


def live_replicas() -> list[dict]:
    from ray.util.state import list_actors

    alive = list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
    return [a for a in alive if a["class_name"] == REPLICA]


@ABANDONED_CLIENT_SOCKETS
@pytest.mark.timeout(400)
@pytest.mark.usefixtures("ray_driver")
async def test_a_replica_killed_mid_sale_costs_buyers_retries_at_most(
    two_replicas: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    replicas = await asyncio.to_thread(live_replicas)
    assert len(replicas) == 2, f"premise: two replicas running, found {len(replicas)}"
    deal = await create_deal(api, admin_token, stock=STOCK, limit=1)
    sale = RetryingSale(two_replicas, deal["deal_id"], buyers(two_replicas, 450), give_up_s=150)
    selling = asyncio.create_task(sale.run())
    await sale.under_way(60)
    before_kill = dict(sale.acknowledged)

    victim = replicas[0]
    killed_at = time.monotonic()
    os.kill(int(victim["pid"]), signal.SIGKILL)  # as the OOM killer or a lost pod would

    async def replaced() -> bool:
        now = await asyncio.to_thread(live_replicas)
        return len(now) == 2 and victim["actor_id"] not in {a["actor_id"] for a in now}

    await until(replaced, 180, "Serve to replace the killed replica")
    replaced_s = time.monotonic() - killed_at
    await selling
    statuses = sorted({b.status for b in sale.people})
    print(
        f"\nreplica {victim['pid']} SIGKILLed with {len(before_kill)} purchases acknowledged; "
        f"Serve had a new one running {replaced_s:.1f} s later; buyers retried "
        f"{dict(sale.retried)}; final statuses {statuses}"
    )
    assert not sale.expired, "premise: every buyer paid within the payment window"
    sale.assert_sold_exactly(STOCK)
    await sale.assert_settled(api, admin_token, before_kill)
    await audit(two_replicas, deal["deal_id"])
