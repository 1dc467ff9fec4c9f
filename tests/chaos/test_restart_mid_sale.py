"""The whole system stopped mid-sale (`make down`) and started again (`make up`): every
acknowledged order reaches MySQL, orders left unpaid still expire (at once, if their
deadline passed while the system was down), and nothing is sold twice."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from cluster.clients import ray_connect
from cluster.local import stack as local_stack
from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import (
    ABANDONED_CLIENT_SOCKETS,
    RetryingSale,
    buy_all,
    buyers,
    order_status,
    until,
)
from tests.e2e.api_client import create_deal, stats

STOCK = 300
UNPAID = 20


@ABANDONED_CLIENT_SOCKETS
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("ray_driver")
async def test_the_system_stopped_and_started_mid_sale_loses_nothing(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    import ray

    sale_deal = await create_deal(api, admin_token, stock=STOCK, limit=1)
    held_deal = await create_deal(api, admin_token, stock=UNPAID, limit=1)
    sale = RetryingSale(drill, sale_deal["deal_id"], buyers(drill, 450), give_up_s=400)
    selling = asyncio.create_task(sale.run())
    await sale.under_way(60)
    # Another deal's orders, left unpaid, held when the system stops.
    unpaid = buyers(drill, UNPAID)
    await buy_all(drill, held_deal["deal_id"], unpaid, in_flight=UNPAID)
    assert all(b.status == 201 for b in unpaid), [b.status for b in unpaid]
    held = (await stats(api, admin_token, held_deal["deal_id"]))["held"]
    assert held == UNPAID, f"premise: {UNPAID} unpaid orders held at the stop, found {held}"
    before_stop = dict(sale.acknowledged)

    ray.shutdown()  # this process is a driver of the Ray cluster about to go away
    stopped_at = time.monotonic()
    await asyncio.to_thread(local_stack.down, drill)
    down_s = time.monotonic() - stopped_at
    await asyncio.to_thread(local_stack.up, drill)
    back_s = time.monotonic() - stopped_at
    ray_connect(drill)
    overdue = sum(1 for b in unpaid if b.pay_by < time.time())
    await selling
    statuses = sorted({b.status for b in sale.people})
    print(
        f"\nstopped with {len(before_stop)} purchases acknowledged; down in {down_s:.1f} s, "
        f"serving again {back_s:.1f} s after the stop; buyers retried {dict(sale.retried)}; "
        f"final statuses {statuses}"
    )
    print(
        f"{len(sale.expired)} acknowledged orders could not be paid before their deadline "
        f"({drill.payment_timeout_s:.0f} s window) and were cancelled; their units sold again"
    )

    async def available() -> int:
        return int((await stats(api, admin_token, sale_deal["deal_id"]))["available"])

    returned = await sale.sell_what_comes_back(available, STOCK)
    if returned:
        print(f"{returned} units back on sale after the buyers had gone; later buyers took them")
    sale.assert_sold_exactly(STOCK)
    await sale.assert_settled(api, admin_token, before_stop)

    # The deadlines that fell due while it was down fire once it is back; the others on time.
    async def expired() -> bool:
        return (await stats(api, admin_token, held_deal["deal_id"]))["held"] == 0

    last_due = max(b.pay_by for b in unpaid)
    await until(expired, max(0.0, last_due - time.time()) + 60, "the deadlines after the restart")
    print(
        f"{overdue} of {UNPAID} unpaid orders fell due while it was down; all cancelled "
        f"{time.monotonic() - stopped_at - back_s:.1f} s after the restart"
    )
    assert {await order_status(api, b) for b in unpaid} == {"cancelled"}
    figures = await stats(api, admin_token, held_deal["deal_id"])
    assert (figures["sold"], figures["available"], figures["cancelled"]) == (0, UNPAID, UNPAID)
    # Every acknowledged order is in MySQL exactly once, with the shards' status.
    await audit(drill, sale_deal["deal_id"])
    await audit(drill, held_deal["deal_id"])
