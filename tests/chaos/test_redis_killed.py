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
from tests.chaos.shop import Buyer, buyers, until
from tests.e2e.api_client import bearer, client, create_deal, purchase, stats
from tests.integration.conftest import owned

STOCK = 300


@pytest.mark.timeout(300)
async def test_redis_killed_mid_sale_keeps_every_acknowledged_purchase(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    redis_server = owned(drill, "redis")
    deal = await create_deal(api, admin_token, stock=STOCK, limit=1)
    deal_id = deal["deal_id"]
    people = buyers(drill, 450)
    acknowledged: dict[str, str] = {}  # buyer -> the order id of their first 200/201
    retries = 0
    gate = asyncio.Semaphore(50)

    async def buy(shop: httpx.AsyncClient, b: Buyer) -> None:
        nonlocal retries
        deadline = time.monotonic() + 120
        async with gate:
            while True:
                response = await purchase(shop, deal_id, b.token, "k")
                b.status = response.status_code
                if response.status_code != 503 or time.monotonic() > deadline:
                    break
                retries += 1
                await asyncio.sleep(min(float(response.headers.get("Retry-After", 1)), 1.0))
        if response.status_code in (200, 201):
            order = response.json()["order_id"]
            # The same key never names two orders, before or after the crash.
            assert acknowledged.setdefault(b.user_id, order) == order
            # Paid at once (retrying a 503 too), so that no deadline returns a unit to
            # the sale while it lasts: what is sold is then exactly what was bought.
            while True:
                paid = await shop.post(f"/api/orders/{order}/pay", headers=bearer(b.token))
                if paid.status_code != 503 or time.monotonic() > deadline:
                    break
                retries += 1
                await asyncio.sleep(1.0)
            assert paid.status_code == 200, paid.text

    async with client(drill, timeout_s=60, connections=25) as shop:
        sale = asyncio.gather(*(buy(shop, b) for b in people))

        async def selling() -> bool:
            return len(acknowledged) >= 60

        await until(selling, 60, "the sale to be under way")
        before_kill = dict(acknowledged)
        killed_at = time.monotonic()
        await asyncio.to_thread(redis_server.stop, kill=True)  # as a crash would
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis_server.start)
        restarted_s = time.monotonic() - killed_at
        await sale
    statuses = {b.status for b in people}
    print(
        f"\nRedis SIGKILLed with {len(before_kill)} purchases acknowledged, back in "
        f"{restarted_s:.1f} s; {retries} retries of a 503; final statuses {sorted(statuses)}"
    )
    assert statuses <= {200, 201, 410}, statuses
    assert len(acknowledged) == STOCK  # sold exactly the stock: nothing lost, nothing twice
    figures = await stats(api, admin_token, deal_id)
    assert (figures["sold"], figures["held"], figures["available"]) == (STOCK, 0, 0), figures

    async def order_of(b: Buyer) -> tuple[int, str | None]:
        order_id = acknowledged[b.user_id]
        response = await api.get(f"/api/orders/{order_id}", headers=bearer(b.token))
        return response.status_code, response.json().get("order_id")

    # Every purchase acknowledged before the kill is still there, under its order id.
    survivors = [b for b in people if b.user_id in before_kill]
    found = await asyncio.gather(*(order_of(b) for b in survivors))
    assert all(status == 200 for status, _ in found), found[:5]
    assert {b.user_id: o for b, (_, o) in zip(survivors, found, strict=True)} == before_kill
    await audit(drill, deal_id)
