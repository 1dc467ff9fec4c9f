"""Redis killed (SIGKILL) and restarted mid-sale: every purchase it acknowledged survives
(AOF, appendfsync always), buyers see 503s meanwhile and retry with their key (and pay
the same way), and the sale ends having sold exactly its stock."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import RetryingSale, buyers
from tests.e2e.api_client import create_deal, stats
from tests.integration.conftest import owned

STOCK = 300


@pytest.mark.timeout(420)
async def test_redis_killed_mid_sale_keeps_every_acknowledged_purchase(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    redis_server = owned(drill, "redis")
    deal = await create_deal(api, admin_token, stock=STOCK, limit=1)
    deal_id = deal["deal_id"]
    sale = RetryingSale(drill, deal_id, buyers(drill, 450), give_up_s=240)
    selling = asyncio.create_task(sale.run())
    await sale.under_way(60)
    before_kill = dict(sale.acknowledged)
    killed_at = time.monotonic()
    await asyncio.to_thread(redis_server.stop, kill=True)  # as a crash would
    await asyncio.sleep(1.0)
    await asyncio.to_thread(redis_server.start)
    restarted_s = time.monotonic() - killed_at
    await sale.goes_on(selling, 120, paid=True)
    resumed_s = time.monotonic() - killed_at
    await selling
    # On a slow box the shop may take longer than the payment window to serve payments
    # again: orders acknowledged just before the kill then expire, as they should, and
    # their units go back on sale (checked: each such deadline had really passed).
    print(
        f"\nRedis SIGKILLed with {len(before_kill)} purchases acknowledged, back in "
        f"{restarted_s:.1f} s, orders paid again {resumed_s:.1f} s after the kill; "
        f"buyers retried {dict(sale.retried)}; "
        f"{len(sale.expired)} orders could not be paid before their "
        f"{drill.payment_timeout_s:.0f} s deadline and were cancelled, their units sold again"
    )

    # While it was down, purchases and payments were told 503 (and retried), not lost.
    assert sale.retried["503"] > 0, dict(sale.retried)

    async def available() -> int:
        return int((await stats(api, admin_token, deal_id))["available"])

    await sale.sell_what_comes_back(available, STOCK)
    # Sold exactly the stock: nothing lost, nothing twice; each key named one order.
    sale.assert_sold_exactly(STOCK)
    # Every purchase acknowledged before the kill is still there, under its order id.
    await sale.assert_settled(api, admin_token, before_kill)
    await audit(drill, deal_id)
