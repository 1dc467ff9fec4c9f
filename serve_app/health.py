"""``/healthz``: is every part this replica depends on answering right now, and what
does this replica's circuit breaker for it say (``closed``, ``half_open``, ``open``)?
The probes bypass the breakers: they are how an operator sees past them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from actors import gateway
from actors.adapters.breakers import BREAKERS
from serve_app.backends import Backends


async def _redis(b: Backends) -> None:
    await b.redis.ping()


async def _mysql(b: Backends) -> None:
    try:
        pool = await b.mysql()
        async with pool.acquire() as conn:
            await conn.ping(reconnect=True)
            async with conn.cursor() as cur:
                await cur.execute("SELECT 1")
    except BaseException:
        # A pool whose server went away holds dead sockets; start afresh next time.
        await b.reset_mysql()
        raise


async def _kafka(b: Backends) -> None:
    topics = await b.kafka_metadata()
    topic = b.settings.kafka_orders_topic
    if topic not in topics:
        raise RuntimeError(f"topic {topic!r} does not exist")


async def _ray(_: Backends) -> None:
    if not await gateway.live_nodes():
        raise RuntimeError("no live Ray node")


CHECKS: dict[str, Callable[[Backends], Awaitable[None]]] = {
    "redis": _redis,
    "mysql": _mysql,
    "kafka": _kafka,
    "ray": _ray,
}


async def _probe(name: str, backends: Backends) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(CHECKS[name](backends), backends.settings.call_timeout_s)
    except Exception as exc:  # noqa: BLE001 -- any failure is reported as this part being down
        detail = str(exc) or type(exc).__name__
        return {"state": "down", "error": detail[:300]}
    return {"state": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


_STATE_NAMES = {"closed": "closed", "half-opened": "half_open", "opened": "open"}


async def check_all(backends: Backends) -> dict[str, dict[str, Any]]:
    results = await asyncio.gather(*(_probe(name, backends) for name in CHECKS))
    parts = dict(zip(CHECKS, results, strict=True))
    for name, state in BREAKERS.states().items():
        if name in parts:
            parts[name]["breaker"] = _STATE_NAMES[state]
    return parts
