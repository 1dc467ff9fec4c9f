"""Drills with a dependency hung (SIGSTOP: its sockets accept, nothing answers), not
stopped: the breakers must turn timeouts into fast 503s, and the shop must recover by
itself once it answers again (SIGCONT)."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from typing import Any

import httpx
import pytest
import ray

from actors.adapters.breakers import REDIS
from actors.gateway import publisher_handle, sink_handle
from cluster import names
from cluster.settings import Settings
from tests.chaos.conftest import audit
from tests.chaos.shop import buy_all, buyers, until
from tests.e2e.api_client import client, create_deal, purchase, token
from tests.e2e.test_metrics import breaker_states, breakers_opened
from tests.integration.conftest import owned
from tests.random_refs import suffix
from tests.serve_logs import ReplicaLogs

WAVE = 200


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


async def wave(
    settings: Settings,
    api: httpx.AsyncClient,
    deal_id: str | None,
    run: str = "",
    who: list[int] | None = None,
) -> list[tuple[int, float, httpx.Response]]:
    """WAVE buyers (``h-{run}-{i}``, key ``k``; ``who``: only those ``i``) at once, one
    attempt each: (status, seconds, response). ``deal_id`` None: the trivial endpoint
    instead, for the yardstick of this machine and client."""
    run = run or suffix()

    async def one(i: int) -> tuple[int, float, httpx.Response]:
        tok = token(settings, f"h-{run}-{i}")
        started = time.perf_counter()
        if deal_id is None:
            response = await api.get("/api/time")
        else:
            response = await purchase(api, deal_id, tok, "k")
        return response.status_code, time.perf_counter() - started, response

    return list(await asyncio.gather(*(one(i) for i in (who or range(WAVE)))))


async def retried(
    settings: Settings, api: httpx.AsyncClient, deal_id: str, run: str, within_s: float
) -> dict[int, httpx.Response]:
    """The wave ``run`` retried as a client told 503 would: again after its
    ``Retry-After``, with the same key, until none is told 503 or ``within_s`` passes.
    Each buyer's last answer."""
    last: dict[int, httpx.Response] = {}
    pending = list(range(WAVE))
    deadline = time.monotonic() + within_s
    while pending:
        answers = await wave(settings, api, deal_id, run, pending)
        last.update(zip(pending, (r for _, _, r in answers), strict=True))
        pending = [i for i in pending if last[i].status_code == 503]
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(max(int(last[i].headers.get("Retry-After", 1)) for i in pending))
    return last


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("ray_driver")
async def test_redis_hung_purchases_fail_fast_once_the_breaker_opens_and_recover(
    drill: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    redis_server = owned(drill, "redis")
    # One shard: every buyer meets the one breaker the drill reads (below).
    deal = await create_deal(api, admin_token, stock=5000, limit=1, shards=1)
    deal_id = deal["deal_id"]
    warm = buyers(drill, 1)
    await buy_all(drill, deal_id, warm)
    assert warm[0].status == 201  # the deal's shards run and are loaded
    pid = redis_server.pid()
    assert pid is not None
    async with client(drill, timeout_s=60, connections=25) as buyers_api:
        opened_before = await asyncio.to_thread(breakers_opened, "redis", "shard")
        trivial = await wave(drill, buyers_api, None)
        before_p99 = p99([s for _, s, _ in trivial])
        os.kill(pid, signal.SIGSTOP)
        hung_at = time.monotonic()
        try:
            first_run = suffix()
            first = await wave(drill, buyers_api, deal_id, first_run)
            first_p99 = p99([s for _, s, _ in first])

            shard = ray.get_actor(names.stock_shard(deal_id, 0), namespace=names.NAMESPACE)

            async def shard_breaker() -> dict[str, Any]:
                breakers: dict[str, dict[str, Any]] = (await shard.info.remote())["breakers"]
                return breakers[REDIS]

            async def just_opened() -> bool:
                # Calls keep coming (an open breaker turns half-open only when called);
                # the shard's own breaker says whether a whole open window lies ahead.
                await purchase(buyers_api, deal_id, token(drill, f"p-{suffix()}"), "k")
                state = await shard_breaker()
                return state["state"] == "opened" and state["retry_after_s"] >= fresh_s

            # Premise: the wave runs while the breaker is open, start to end. Were the
            # window to end during the wave, a half-open probe would wait out Redis's
            # timeout and the breaker open anew: the wave is then run again. Read from
            # the breaker itself, not from latencies: on a loaded box the wave's answers
            # can take seconds at once (so can the trivial endpoint's, the yardstick).
            fresh_s = drill.breaker_open_s - 1.0
            for _ in range(3):
                await until(just_opened, 90, "the shard's Redis breaker to open")
                before = await shard_breaker()
                started = time.monotonic()
                second = await wave(drill, buyers_api, deal_id)
                took_s = time.monotonic() - started
                after = await shard_breaker()
                within = after["state"] == "opened" and after["opened"] == before["opened"]
                if within:
                    break
                print(
                    f"\nthe second wave took {took_s:.1f} s and met the breaker's probe "
                    f"({before} then {after}): not all within the open window, again"
                )
            assert within, (
                f"premise: a wave of {WAVE} does not fit in the breaker's open window on "
                f"this box ({took_s:.1f} s; FLASHSALE_BREAKER_OPEN_S {drill.breaker_open_s})"
            )
            second_p99 = p99([s for _, s, _ in second])
            # The yardstick: the trivial endpoint under the same conditions, right after
            # (Redis still hung, every part that needs it backing off), not only before
            # the hang: a CI run once had 1.4 s before and the wave at 1.65 times that.
            yardstick = p99([s for _, s, _ in await wave(drill, buyers_api, None)])

            async def exported_open() -> bool:
                opened = await asyncio.to_thread(breakers_opened, "redis", "shard")
                return opened > opened_before

            # Ray's metrics export shows it (the dashboard's and Prometheus's view).
            await until(exported_open, 60, "the shard's breaker opening in the export")
            # Reads that need no write keep working: the deals come from MySQL/memory.
            listed = await api.get("/api/deals")
            health = (await api.get("/healthz")).json()
        finally:
            os.kill(pid, signal.SIGCONT)
    print(
        f"\nRedis hung: first wave p99 {first_p99:.2f} s, second wave (breaker open) p99 "
        f"{second_p99:.3f} s; trivial endpoint p99 {yardstick:.3f} s right after it "
        f"({before_p99:.3f} s before the hang; ratio {second_p99 / yardstick:.2f})"
    )
    assert {s for s, _, _ in first} <= {503}, [r.text for s, _, r in first if s != 503][:3]
    assert {s for s, _, _ in second} == {503}, [r.text for s, _, r in second if s != 503][:3]
    assert all(int(r.headers["Retry-After"]) >= 1 for _, _, r in second)
    # The target: 0.2 s, set where the trivial endpoint's p99 was ~30 ms; on a slower
    # box the same multiple of this run's trivial p99.
    assert second_p99 <= max(0.2, 1.5 * yardstick), (second_p99, yardstick)
    assert listed.status_code == 200 and deal_id in {d["deal_id"] for d in listed.json()}
    assert health["parts"]["redis"]["state"] == "down", health

    # Redis answers again: the breaker's probe closes it and purchases resume by
    # themselves; every buyer told 503 may retry with the same key.
    recovered_at = None

    async def selling() -> bool:
        nonlocal recovered_at
        response = await purchase(api, deal_id, token(drill, f"r-{suffix()}"), "k")
        if response.status_code == 201:
            recovered_at = time.monotonic()
        return response.status_code == 201

    await until(selling, 90, "purchases to resume after SIGCONT")
    assert recovered_at is not None
    print(f"purchases resumed {recovered_at - hung_at:.1f} s after Redis hung (SIGCONT included)")
    # The first wave's buyers retry with their key: each gets its order, once. A write
    # that Redis ran when it woke (after the shard had given up on it) is replayed (200).
    # One purchase through means one replica's and one shard's breaker closed; a buyer
    # routed to a part whose breaker has not probed yet is told 503 and Retry-After
    # once more, and retries as told.
    again = await retried(drill, api, deal_id, first_run, within_s=60)
    statuses = {r.status_code for r in again.values()}
    assert statuses <= {200, 201}, [r.text for r in again.values() if r.status_code >= 300][:3]
    await audit(drill, deal_id)


async def _told_503_and_logged_why(settings: Settings, api: httpx.AsyncClient) -> None:
    """A request that needs MariaDB (a new account) is told 503 once its call times
    out, and the replica's log says why as it happens, not when a buffer fills."""
    logs = ReplicaLogs(settings)
    credentials = {"username": f"hung-{suffix()}", "password": "a long enough password"}
    answer = await api.post("/api/auth/register", json=credentials)
    assert answer.status_code == 503 and "Retry-After" in answer.headers, answer.text

    async def logged() -> bool:
        return any("/api/auth/register: a backend is unavailable" in x for x in logs.since())

    await until(logged, 10, "the replica to log the 503's cause")


async def _exported_state(dependency: str, process: str, value: float) -> bool:
    return (dependency, process, value) in await asyncio.to_thread(breaker_states)


@pytest.mark.timeout(360)
@pytest.mark.usefixtures("ray_driver")
@pytest.mark.parametrize(("part", "process"), [("kafka", "publisher"), ("mysql", "sink")])
async def test_a_hung_pipeline_part_opens_its_breaker_the_sale_goes_on_then_catches_up(
    drill: Settings, api: httpx.AsyncClient, admin_token: str, part: str, process: str
) -> None:
    """Kafka or MariaDB hung: purchases never wait for either (the outbox takes the
    events), the relay or the sink opens its breaker instead of waiting out timeouts,
    and once the part answers again everything reaches MySQL exactly once."""
    service = owned(drill, part)
    actor = publisher_handle(drill) if process == "publisher" else sink_handle(drill)

    async def breaker() -> dict[str, Any]:
        found: dict[str, Any] = (await actor.stats.remote())["breakers"][part]
        return found

    opened_before = (await breaker())["opened"]
    exported_before = await asyncio.to_thread(breakers_opened, part, process)
    deal = await create_deal(api, admin_token, stock=60, limit=1)
    deal_id = deal["deal_id"]
    pid = service.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    hung_at = time.monotonic()
    try:
        people = buyers(drill, 40)
        await buy_all(drill, deal_id, people, in_flight=20)
        assert {b.status for b in people} == {201}, [b.status for b in people]
        if part == "mysql":
            await _told_503_and_logged_why(drill, api)

        async def opened() -> bool:
            return (await breaker())["opened"] > opened_before

        try:
            await until(opened, 150, f"the {process}'s {part} breaker to open")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {process} stats {await actor.stats.remote()}") from None
        opened_after = time.monotonic() - hung_at

        async def exported() -> bool:
            return await asyncio.to_thread(breakers_opened, part, process) > exported_before

        # Ray's metrics export counts it (a counter: no sampling can miss an opening).
        await until(exported, 60, f"the {process}'s {part} breaker opening in the export")
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed_at = time.monotonic()

    async def closed() -> bool:
        return (await breaker())["state"] == "closed"

    await until(closed, 90, f"the {process}'s {part} breaker to close")
    await until(lambda: _exported_state(part, process, 0.0), 60, "the closed state in the export")
    print(
        f"\n{part} hung: the {process}'s breaker opened after {opened_after:.1f} s and "
        f"closed {time.monotonic() - resumed_at:.1f} s after {part} answered again"
    )
    await audit(drill, deal_id)
