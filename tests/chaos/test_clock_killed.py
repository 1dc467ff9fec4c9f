"""The DealClock SIGKILLed in the middle of a sweep of thousands of due deadlines: Ray
restarts it, it picks the timers up from Redis where the dead one left them, and every
unpaid order is cancelled exactly once (the shards refuse a second expiry), its unit
back on sale. Meanwhile buyers of another deal keep buying and paying (retrying with
their keys): the shop sells through the clock's death."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from tests.chaos.conftest import audit
from tests.chaos.shop import RetryingSale, buy_all, buyers, until
from tests.e2e.api_client import create_deal, stats

UNPAID = 3000
STOCK = 300  # the other deal's, sold across the kill


def the_clock() -> dict | None:
    """The live DealClock, or None while Ray restarts it."""
    from ray.util.state import list_actors

    alive = list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
    clocks = [a for a in alive if a["class_name"] == "DealClock"]
    assert len(clocks) <= 1, clocks
    return clocks[0] if clocks else None


@pytest.mark.timeout(400)
@pytest.mark.usefixtures("ray_driver")
async def test_the_clock_killed_mid_sweep_cancels_every_unpaid_order_once(
    drill, api: httpx.AsyncClient, admin_token: str
) -> None:
    # Two shards: the sweep calls each shard for its own orders.
    deal = await create_deal(api, admin_token, stock=UNPAID, limit=1, shards=2)
    deal_id = deal["deal_id"]
    people = buyers(drill, UNPAID)
    began = time.monotonic()
    await buy_all(drill, deal_id, people, in_flight=100)  # nobody pays
    took = time.monotonic() - began
    assert all(b.status == 201 for b in people), {b.status for b in people}

    # Wait for the sweep to be under way, then kill the clock's process outright.
    seen: list[int] = []

    async def sweeping() -> bool:
        seen.append((await stats(api, admin_token, deal_id))["held"])
        return seen[-1] < UNPAID

    await until(sweeping, drill.payment_timeout_s + 60, "the first deadlines")
    # Sustained buying across the kill, on another deal; paying at once, so no deadline
    # of its own is needed while the clock is away.
    other = await create_deal(api, admin_token, stock=STOCK, limit=1)
    sale = RetryingSale(drill, other["deal_id"], buyers(drill, 450), give_up_s=300)
    selling = asyncio.create_task(sale.run())
    await sale.under_way(20)
    before_kill = dict(sale.acknowledged)
    clock = await asyncio.to_thread(the_clock)
    assert clock is not None, "premise: the clock is running before the kill"
    killed_at = time.monotonic()
    os.kill(int(clock["pid"]), signal.SIGKILL)
    held_at_kill = (await stats(api, admin_token, deal_id))["held"]
    # The premise: deadlines were still due when it died (the buying spread them over
    # `took` seconds, so the sweep is spread too).
    assert held_at_kill > 0, f"premise: the sweep finished before the kill ({seen[-5:]})"

    async def restarted() -> bool:
        now = await asyncio.to_thread(the_clock)
        return now is not None and now["pid"] != clock["pid"]

    await until(restarted, 120, "Ray to restart the clock")
    restarted_s = time.monotonic() - killed_at

    async def all_expired() -> bool:
        return (await stats(api, admin_token, deal_id))["held"] == 0

    last_due = max(b.pay_by for b in people)
    await until(all_expired, max(0.0, last_due - time.time()) + 90, "every deadline")
    done_s = time.monotonic() - killed_at
    await selling

    async def available() -> int:
        return int((await stats(api, admin_token, other["deal_id"]))["available"])

    await sale.sell_what_comes_back(available, STOCK)
    print(
        f"\n{UNPAID} orders bought in {took:.1f} s; the clock SIGKILLed with {held_at_kill} "
        f"still held; restarted in {restarted_s:.1f} s; every order cancelled "
        f"{done_s:.1f} s after the kill; meanwhile the other deal sold {len(sale.paid)} "
        f"units ({len(before_kill)} before the kill), buyers retried {dict(sale.retried)}"
    )
    figures = await stats(api, admin_token, deal_id)
    assert (figures["held"], figures["sold"], figures["available"]) == (0, 0, UNPAID), figures
    assert figures["cancelled"] == UNPAID, figures  # each order cancelled once, none twice
    await audit(drill, deal_id, wait_s=120)
    sale.assert_sold_exactly(STOCK)
    await sale.assert_settled(api, admin_token, before_kill)
    await audit(drill, other["deal_id"])
