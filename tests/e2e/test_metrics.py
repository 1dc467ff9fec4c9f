"""The purchase path's own metrics reach Ray's Prometheus export (the dashboard's source)."""

import asyncio
import re
import time
import urllib.request

import httpx
import pytest

from cluster.settings import Settings
from tests.e2e.api_client import create_deal, purchase, token
from tests.random_refs import suffix

BATCH_COUNT = re.compile(r"^ray_flashsale_purchase_batch_size_count\{[^}]*\} (\S+)$", re.M)
BREAKER_STATE = re.compile(r"^ray_flashsale_breaker_state\{([^}]*)\} (\S+)$", re.M)
BREAKER_OPENED = re.compile(r"^ray_flashsale_breaker_opened(?:_total)?\{([^}]*)\} (\S+)$", re.M)


def exported() -> str:
    import ray

    (node,) = [n for n in ray.nodes() if n["Alive"]]
    url = f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def batches_exported() -> float:
    """The purchase batches every replica on this node has reported, summed."""
    return sum(float(v) for v in BATCH_COUNT.findall(exported()))


def _by_tags(pattern: re.Pattern[str]) -> list[tuple[str, str, float]]:
    """(dependency, process kind, value) of each exported series. Keyed by the whole
    label set (the process's own labels too): two processes of one kind with the same
    value are two series, not one (a set of these tuples once hid a shard's opening
    behind an older shard's equal count)."""
    series = {labels: float(value) for labels, value in pattern.findall(exported())}
    found = []
    for labels, value in series.items():
        tags = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        found.append((tags.get("dependency", ""), tags.get("process", ""), value))
    return found


def breaker_states() -> set[tuple[str, str, float]]:
    """(dependency, process kind, state) of every breaker gauge exported."""
    return set(_by_tags(BREAKER_STATE))


def breakers_opened(dependency: str, process: str) -> float:
    """How many times that kind of process's breaker opened, over all its processes
    (a counter: unlike the gauge, a sampled export cannot miss an opening)."""
    return sum(v for d, p, v in _by_tags(BREAKER_OPENED) if (d, p) == (dependency, process))


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("ray_driver")
async def test_purchase_batch_sizes_are_exported(
    stack: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    before = await asyncio.to_thread(batches_exported)
    deal = await create_deal(api, admin_token, stock=50, limit=1)
    responses = await asyncio.gather(
        *(purchase(api, deal["deal_id"], token(stack, f"m-{suffix()}"), "k") for _ in range(20))
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    # Ray's agents export what workers recorded every few seconds.
    deadline = time.monotonic() + 90
    while (after := await asyncio.to_thread(batches_exported)) <= before:
        assert time.monotonic() < deadline, "no purchase batch reached Ray's metrics export"
        await asyncio.sleep(2)
    assert after - before <= 20  # one observation per actor call, not per purchase


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("ray_driver")
async def test_every_process_exports_its_breakers_closed(stack: Settings) -> None:
    """Each kind of process exports a gauge for each dependency it guards, closed (0)
    while every part answers (tests/chaos/test_hangs.py sees a shard's open)."""
    wanted = {
        ("redis", "replica"),
        ("mysql", "replica"),
        ("redis", "publisher"),
        ("kafka", "publisher"),
        ("kafka", "sink"),
        ("mysql", "sink"),
        ("redis", "clock"),
    }
    deadline = time.monotonic() + 90
    while True:
        seen = await asyncio.to_thread(breaker_states)
        # Earlier tests stop Redis, MySQL and Kafka: a breaker that opened then is
        # closed again by its first probe after the part came back.
        if wanted <= {(d, p) for d, p, _ in seen} and not [
            s for d, p, s in seen if (d, p) in wanted and s != 0.0
        ]:
            break
        assert time.monotonic() < deadline, f"breaker gauges exported: {sorted(seen)}"
        await asyncio.sleep(2)
