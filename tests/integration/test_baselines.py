"""The benchmark's baselines (bench/baselines/) against the real Redis and MariaDB: each,
started as the benchmark starts it, sells exactly its stock under a concurrent burst,
holds every buyer to the limit, speaks flashsale's purchase contract and counts what it
answered at ``/stats``.

These need only the running stack's settings and ask nothing to start (the ``stack``
fixture would bring services up; a baseline never needs Ray or Kafka)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from bench.baselines import naive_mysql, redis_lua
from bench.baselines.common import LATENCY_BOUNDS_S
from cluster.local.env import load_settings
from cluster.settings import Settings
from serve_app.auth import issue_token
from tests.random_refs import suffix

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STOCK, LIMIT, BUYERS = 20, 2, 30


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(dict(os.environ), running_stack=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=[naive_mysql, redis_lua], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def baseline(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[tuple[ModuleType, str]]:
    """(the baseline's module, its base URL), served by its own subprocess."""
    module: ModuleType = request.param
    port = _free_port()
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", module.__name__, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **settings.to_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"{module.__name__} exited {proc.returncode}:\n{log.read()}")
            try:
                if httpx.get(base + "/api/time", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{module.__name__} did not answer in 30 s"
            time.sleep(0.1)
        yield module, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def test_sells_exactly_the_stock_within_the_limit(
    baseline: tuple[ModuleType, str], settings: Settings
) -> None:
    module, base = baseline
    run = suffix()
    deal = f"bench-test-{run}"
    await asyncio.to_thread(module.setup_deal, settings, deal, STOCK, LIMIT)
    tokens = [
        issue_token(settings.jwt_secret, f"buyer-{run}-{i}", "buyer", 600)[0] for i in range(BUYERS)
    ]
    path = f"/api/deals/{deal}/purchase"

    async def buy(
        client: httpx.AsyncClient, token: str, key: str, quantity: int = 1, url: str = path
    ) -> httpx.Response:
        return await client.post(
            url,
            json={"quantity": quantity},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )

    try:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            before = (await client.get("/stats")).json()

            # 60 purchases at once: 30 buyers, two each, one unit each.
            burst = [(t, f"k{n}-{i}") for i, t in enumerate(tokens) for n in range(2)]
            answers = await asyncio.gather(*(buy(client, t, k) for t, k in burst))
            statuses = Counter(a.status_code for a in answers)
            assert statuses[201] == STOCK, statuses
            assert set(statuses) <= {201, 409, 410}, statuses
            made = [a.json() for a in answers if a.status_code == 201]
            assert all(m["status"] == "reserved" for m in made)
            assert len({m["order_id"] for m in made}) == STOCK
            for a in answers:
                if a.status_code != 201:
                    assert a.json()["error"]["code"] in ("sold_out", "limit_exceeded")

            # A buyer who has the limit is refused for the limit, even sold out.
            per_buyer = Counter(
                tokens[i // 2] for i, a in enumerate(answers) if a.status_code == 201
            )
            full = next(t for t, n in per_buyer.items() if n == LIMIT)
            third = await buy(client, full, "k-third")
            assert third.status_code == 409
            assert third.json()["error"]["code"] == "limit_exceeded"
            # Sold out, for a buyer who has room.
            empty = next(t for t in tokens if per_buyer[t] == 0)
            late = await buy(client, empty, "k-late")
            assert late.status_code == 410
            assert late.json()["error"]["code"] == "sold_out"

            unknown = await buy(client, tokens[0], "k-unknown", url=f"/api/deals/no-{run}/purchase")
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "unknown_deal"
            forged = issue_token("not-the-secret-at-all-0123456789", f"buyer-{run}-0", "buyer", 600)
            bad_token = await buy(client, forged[0], "k-forged")
            assert bad_token.status_code == 401
            assert bad_token.json()["error"]["code"] == "unauthorized"
            no_token = await client.post(
                path, json={"quantity": 1}, headers={"Idempotency-Key": "k"}
            )
            assert no_token.status_code == 401
            bad_key = await buy(client, tokens[0], "not a key!")
            assert bad_key.status_code == 422
            assert (await client.get("/api/time")).status_code == 200

            after = (await client.get("/stats")).json()

        # The record: exactly the stock, nobody over the limit.
        assert await asyncio.to_thread(module.sold, settings, deal) == STOCK
        assert await asyncio.to_thread(module.orders, settings, deal) == STOCK
        assert await asyncio.to_thread(module.stock_left, settings, deal) == 0
        bought = await asyncio.to_thread(module.bought_by_buyer, settings, deal)
        assert sum(bought.values()) == STOCK
        assert max(bought.values()) <= LIMIT

        # /stats counted every answer above, and nothing else (not its own requests).
        seen = Counter(a.status_code for a in answers)
        seen.update(r.status_code for r in (third, late, unknown, bad_token, no_token, bad_key))
        seen[200] += 1  # /api/time
        delta = {
            s: n - before["requests"].get(s, 0)
            for s, n in after["requests"].items()
            if n != before["requests"].get(s, 0)
        }
        assert delta == {str(s): n for s, n in seen.items()}
        latency = after["latency_s"]
        assert latency["le"] == [*LATENCY_BOUNDS_S, "+Inf"]
        assert latency["buckets"] == sorted(latency["buckets"])  # cumulative
        assert latency["buckets"][-1] == latency["count"] == sum(after["requests"].values())
        assert latency["count"] - before["latency_s"]["count"] == sum(seen.values())
        assert latency["sum"] > before["latency_s"]["sum"]
    finally:
        await asyncio.to_thread(module.delete_deal, settings, deal)
