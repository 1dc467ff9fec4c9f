"""The order pipeline under faults: Kafka stopped, MariaDB stopped, the sink killed
between its two commits. Each drill ends with the audit."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
import ray

from actors.adapters import redis_keys as keys
from actors.gateway import sink_handle
from cluster.clients import mysql_connect, redis_client
from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import Buyer, buy_all, buyers, pay, until
from tests.e2e.api_client import create_deal
from tests.integration.conftest import owned


def mysql_rows(settings: Settings, deal_id: str) -> dict[str, tuple]:
    conn = mysql_connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT order_id, status, quantity, created_at, paid_at, cancelled_at"
                " FROM orders WHERE deal_id = %s",
                (deal_id,),
            )
            return {row[0]: row[1:] for row in cur.fetchall()}
    finally:
        conn.close()


async def outbox_length(settings: Settings, deal_id: str) -> int:
    redis = redis_client(settings)
    try:
        return int(await redis.xlen(keys.outbox(deal_id)))
    finally:
        await redis.aclose()


@pytest.mark.timeout(300)
async def test_kafka_stopped_fills_the_outbox_to_its_bound_then_503_then_drains(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    kafka = owned(drill, "kafka")
    deal = await create_deal(api, admin_token, stock=1000, limit=1)
    first = buyers(drill, 1)
    await buy_all(drill, deal["deal_id"], first)  # the deal's shards are warm
    assert first[0].status == 201
    await until(lambda: _empty(drill, deal["deal_id"]), 30, "the first event to reach Kafka")

    await asyncio.to_thread(kafka.stop)
    try:
        people = buyers(drill, drill.outbox_max + 60)
        for b in people:  # one at a time, so that the bound is met exactly
            response = await api.post(
                f"/api/deals/{deal['deal_id']}/purchase",
                json={"quantity": 1},
                headers={"Authorization": f"Bearer {b.token}", "Idempotency-Key": "k"},
            )
            b.status = response.status_code
            if b.status == 201:
                b.order = response.json()
            else:
                assert response.json()["error"]["code"] == "unavailable", response.text
        statuses = Counter(b.status for b in people)
        assert statuses == {201: drill.outbox_max, 503: 60}, statuses
        assert await outbox_length(drill, deal["deal_id"]) == drill.outbox_max
        # Paying needs no new order: it goes on while the outbox is full.
        assert (await pay(api, people[0])).status_code == 200
    finally:
        await asyncio.to_thread(kafka.start)

    await until(lambda: _empty(drill, deal["deal_id"]), 90, "the outbox to drain")
    late = buyers(drill, 1)
    await buy_all(drill, deal["deal_id"], late)
    assert late[0].status == 201
    await audit(drill, deal["deal_id"])


async def _empty(settings: Settings, deal_id: str) -> bool:
    return await outbox_length(settings, deal_id) == 0


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("ray_driver")
async def test_mariadb_stopped_during_a_sale_catches_up_after(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    mariadb = owned(drill, "mysql")
    sink = sink_handle(drill)
    deal = await create_deal(api, admin_token, stock=100, limit=1)
    failures = (await sink.stats.remote())["failures"]
    await asyncio.to_thread(mariadb.stop)
    try:
        people = buyers(drill, 150)

        async def pay_half(api: httpx.AsyncClient, b: Buyer) -> None:
            if int(b.user_id.rsplit("-", 1)[1]) % 2 == 0:
                assert (await pay(api, b)).status_code == 200

        # The purchase and payment paths never touch MySQL: the sale goes on.
        await buy_all(drill, deal["deal_id"], people, in_flight=50, then=pay_half)
        assert Counter(b.status for b in people) == {201: 100, 410: 50}

        async def sink_met_the_outage() -> bool:
            return (await sink.stats.remote())["failures"] > failures

        # Proof that the fault path ran: the sink tried to write this sale and failed.
        await until(sink_met_the_outage, 60, "the sink failing to write while MariaDB is down")
    finally:
        await asyncio.to_thread(mariadb.start)
    await audit(drill, deal["deal_id"])
    rows = await asyncio.to_thread(mysql_rows, drill, deal["deal_id"])
    assert len(rows) == 100


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("ray_driver")
async def test_the_sink_killed_between_its_commits_replays_and_changes_nothing(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    sink = sink_handle(drill)
    deal = await create_deal(api, admin_token, stock=50, limit=1)
    await sink.hold_offsets.remote(deal["deal_id"])
    try:
        people = buyers(drill, 50)
        await buy_all(drill, deal["deal_id"], people, in_flight=25)
        assert Counter(b.status for b in people) == {201: 50}, Counter(b.status for b in people)

        async def written_and_held() -> bool:
            held = (await sink.stats.remote())["held_batches"] > 0
            rows = await asyncio.to_thread(mysql_rows, drill, deal["deal_id"])
            return held and len(rows) > 0

        await until(written_and_held, 120, "a batch written to MySQL with its offsets held")
        before = await asyncio.to_thread(mysql_rows, drill, deal["deal_id"])
        ray.kill(sink, no_restart=False)  # MySQL has the batch; Kafka's offsets do not
    finally:
        # A kill resets the hold; this only matters if the test failed before it.
        await sink.hold_offsets.remote(None)

    await audit(drill, deal["deal_id"])
    after = await asyncio.to_thread(mysql_rows, drill, deal["deal_id"])
    assert len(after) == 50
    assert {o: after[o] for o in before} == before  # the replayed events changed nothing
