"""Buyers as programs: many at once, each with their own token and key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from cluster.settings import Settings
from tests.e2e.api_client import bearer, client, purchase, stats, token
from tests.random_refs import suffix


@dataclass
class Buyer:
    user_id: str
    token: str
    status: int = 0  # of the purchase
    order: dict[str, Any] | None = None

    @property
    def pay_by(self) -> float:
        assert self.order is not None
        return datetime.fromisoformat(self.order["pay_by"].replace("Z", "+00:00")).timestamp()


def buyers(settings: Settings, n: int) -> list[Buyer]:
    run = suffix()
    return [Buyer(u, token(settings, u)) for u in (f"b-{run}-{i}" for i in range(n))]


async def buy_all(
    settings: Settings,
    deal_id: str,
    people: list[Buyer],
    in_flight: int = 100,
    then: Callable[[httpx.AsyncClient, Buyer], Awaitable[None]] | None = None,
) -> None:
    """Each buyer buys one unit (retrying a 503 with the same key, as a client should),
    then, if accepted, does ``then`` (pay, cancel, nothing)."""
    gate = asyncio.Semaphore(in_flight)
    # httpx opens a pool of many connections slowly (~50 ms each here; a raw socket
    # takes ~1 ms), so a few connections carry the buyers' requests.
    async with client(settings, timeout_s=60, connections=min(in_flight, 25)) as api:

        async def one(b: Buyer) -> None:
            async with gate:
                for _ in range(20):
                    response = await purchase(api, deal_id, b.token, "k")
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.2)
                b.status = response.status_code
                if response.status_code == 201:
                    b.order = response.json()
                    if then is not None:
                        await then(api, b)

        await asyncio.gather(*(one(b) for b in people))


async def pay(api: httpx.AsyncClient, b: Buyer) -> httpx.Response:
    assert b.order is not None
    return await api.post(f"/api/orders/{b.order['order_id']}/pay", headers=bearer(b.token))


async def cancel(api: httpx.AsyncClient, b: Buyer) -> httpx.Response:
    assert b.order is not None
    return await api.post(f"/api/orders/{b.order['order_id']}/cancel", headers=bearer(b.token))


async def order_status(api: httpx.AsyncClient, b: Buyer) -> str:
    assert b.order is not None
    response = await api.get(f"/api/orders/{b.order['order_id']}", headers=bearer(b.token))
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


async def until_nothing_held(
    api: httpx.AsyncClient, admin_token: str, deal_id: str, timeout_s: float
) -> None:
    """Wait until every order of the deal is paid or cancelled (the deadlines fired)."""

    async def settled() -> bool:
        return (await stats(api, admin_token, deal_id))["held"] == 0

    await until(settled, timeout_s, "the deadlines")
