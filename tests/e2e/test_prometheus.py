"""The sale's metrics in the running Prometheus that `make up` started: a small sale,
then the values (not just the names) read back through Prometheus's HTTP API, as a
researcher's dashboard reads them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from actors.gateway import hold_relay
from cluster.settings import Settings
from tests.e2e.api_client import create_deal, purchase, token
from tests.random_refs import suffix

# Ray appends _total to counters when it exports them; match either spelling.
PURCHASES = '{{__name__=~"ray_flashsale_purchases(_total)?", deal="{deal}"}}'


async def query(settings: Settings, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query: each series' labels (sorted) -> value."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query", params={"query": promql}
        )
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", response.text
    return {
        tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in body["data"]["result"]
    }


async def eventually(settings: Settings, promql: str, wanted: dict[str, float], by: str) -> None:
    """Poll until the query's series, keyed by the label ``by``, have the wanted values.
    Ray exports every few seconds and Prometheus scrapes every few: tens of seconds."""
    deadline = time.monotonic() + 120
    while True:
        series = await query(settings, promql)
        seen = {dict(labels).get(by, ""): value for labels, value in series.items()}
        if seen == wanted:
            return
        assert time.monotonic() < deadline, f"{promql}: wanted {wanted}, Prometheus has {seen}"
        await asyncio.sleep(3)


@pytest.mark.timeout(240)
async def test_a_small_sale_reaches_prometheus_with_its_counts(
    stack: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    deal = await create_deal(api, admin_token, stock=5, limit=1, shards=1)
    deal_id = deal["deal_id"]
    responses = []
    for i in range(8):  # one at a time: the first five reserve, the last three are told sold out
        responses.append(await purchase(api, deal_id, token(stack, f"p-{suffix()}-{i}"), "k"))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 5, 410: 3}, [r.text for r in responses]

    await eventually(
        stack,
        f"sum by (outcome) ({PURCHASES.format(deal=deal_id)})",
        {"reserved": 5.0, "sold_out": 3.0},
        by="outcome",
    )
    # The shard's gauges: all five units held (reserved, unpaid), none left.
    await eventually(
        stack,
        f'sum by (state) (ray_flashsale_shard_units{{deal="{deal_id}"}})',
        {"available": 0.0, "held": 5.0, "sold": 0.0},
        by="state",
    )
    # Each answer's latency, on Serve's own histogram of the purchase route (the one
    # Grafana's latency panel reads; serve_app/metrics.py says why not one of ours).
    route = 'route="/api/deals/{deal_id}/purchase"'
    latencies = await query(stack, f"sum(ray_serve_http_request_latency_ms_count{{{route}}})")
    assert sum(latencies.values()) >= 8, latencies


PIPELINE = {
    "ray_flashsale_relay_lag_s",
    "ray_flashsale_sink_lag_events",
    "ray_flashsale_sink_lag_s",
    "ray_flashsale_timers_pending",
    "ray_flashsale_breaker_state",
}


@pytest.mark.timeout(180)
async def test_the_pipeline_and_clock_gauges_are_scraped(stack: Settings) -> None:
    """The relay's, the sink's and the clock's gauges reach Prometheus (their values
    move with every sale; the small sale above pins the purchase path's)."""
    names = "|".join(sorted(PIPELINE))
    deadline = time.monotonic() + 120
    while True:
        series = await query(stack, f'count by (__name__) ({{__name__=~"{names}"}})')
        seen = {dict(labels)["__name__"] for labels in series}
        if seen == PIPELINE:
            break
        assert time.monotonic() < deadline, f"missing from Prometheus: {PIPELINE - seen}"
        await asyncio.sleep(3)


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("ray_driver")
async def test_a_held_relay_shows_as_outbox_depth_until_it_drains(
    stack: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    """A deal's outbox depth is exported while its events wait (a series per deal with
    events, so that every deal ever sold is not a series for good): hold the relay,
    sell three units, read 3 back; release it, read 0."""
    deal_id = (await create_deal(api, admin_token, stock=3, limit=1, shards=1))["deal_id"]
    depth = f'ray_flashsale_outbox_depth{{deal="{deal_id}"}}'
    await asyncio.to_thread(hold_relay, stack, 150)
    try:
        for i in range(3):
            bought = await purchase(api, deal_id, token(stack, f"o-{suffix()}-{i}"), "k")
            assert bought.status_code == 201, bought.text
        await eventually(stack, f"sum({depth})", {"": 3.0}, by="")
    finally:
        await asyncio.to_thread(hold_relay, stack, 0)
    await eventually(stack, f"sum({depth})", {"": 0.0}, by="")
