"""The flash sale itself: many buyers at the start of one deal, as a shop meets it.

N buyers (20,000 by default) against S units (5,000): every buyer's first try lands in
the first seconds around the start (some early: they are told ``not_started`` and try
again at the start), each retries a 503 or 429 with the same Idempotency-Key and a
growing, jittered back-off, and stops at an answer (reserved, sold out, limit). Then of
those who reserved, some pay, some cancel and the rest walk away, so their orders expire
at the payment deadline and their units come back. It reports what the shop must
guarantee: the time to sell out, the answers by outcome, oversell (must be 0), orders in
MySQL against orders acknowledged (must be equal), how long MySQL took to catch up, and
the audit.

The buyers are asyncio tasks in this process over a pool of keep-alive connections; its
CPU share is in the run's per-part table, so a reader can see whether it held the shop
back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from cluster.settings import Settings

RETRIED = {429, 503}
NOT_STARTED = "not_started"


@dataclass
class Buyer:
    token: str
    key: str
    arrives_at: float  # monotonic
    status: int = 0
    code: str = ""
    order_id: str = ""
    tries: int = 0
    answered_at: float = 0.0
    answers: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    buyers: int = 20_000
    stock: int = 5_000
    arrive_over_s: float = 3.0  # first tries spread over this much from the start
    early_s: float = 0.5  # ... and starting this much before it
    pay_share: float = 0.6
    cancel_share: float = 0.1  # the rest walk away and expire
    connections: int = 256


async def run_sale(
    settings: Settings, deal_id: str, starts_at: float, tokens: list[str], scenario: Scenario
) -> dict:
    """``starts_at``: the deal's start, time.time(). Returns what happened."""
    offset = time.monotonic() - time.time()
    start_m = starts_at + offset
    buyers = [
        Buyer(
            token,
            f"fs-{i}",
            start_m - scenario.early_s + random.random() * scenario.arrive_over_s,
        )
        for i, token in enumerate(tokens)
    ]
    limits = httpx.Limits(
        max_connections=scenario.connections, max_keepalive_connections=scenario.connections
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.http_port}", limits=limits, timeout=30
    ) as api:
        await asyncio.gather(*(_buy(api, deal_id, b) for b in buyers))
        reserved = [b for b in buyers if b.status in (200, 201)]
        random.shuffle(reserved)
        paying = reserved[: int(len(reserved) * scenario.pay_share)]
        cancelling = reserved[
            len(paying) : len(paying) + int(len(reserved) * scenario.cancel_share)
        ]
        settled = await asyncio.gather(
            *(_settle(api, b, "pay") for b in paying),
            *(_settle(api, b, "cancel") for b in cancelling),
        )
    wins = sorted(b.answered_at for b in reserved)
    sold_out_at = min((b.answered_at for b in buyers if b.code == "sold_out"), default=None)
    return {
        "buyers": len(buyers),
        "stock": scenario.stock,
        "acknowledged": len({b.order_id for b in reserved}),
        "answers": dict(Counter(b.code or str(b.status) for b in buyers)),
        "requests": sum(b.tries for b in buyers),
        "retried_answers": dict(Counter(s for b in buyers for s in b.answers[:-1])),
        "first_sale_s": round(wins[0] - start_m, 3) if wins else None,
        "last_sale_s": round(wins[-1] - start_m, 3) if wins else None,
        "sold_out_s": round(sold_out_at - start_m, 3) if sold_out_at else None,
        "paid": sum(1 for ok, what in settled if ok and what == "pay"),
        "cancelled": sum(1 for ok, what in settled if ok and what == "cancel"),
        "walked_away": len(reserved) - len(paying) - len(cancelling),
        "settle_failures": sum(1 for ok, _ in settled if not ok),
        "order_ids": sorted(b.order_id for b in reserved),
    }


async def _buy(api: httpx.AsyncClient, deal_id: str, b: Buyer) -> None:
    await asyncio.sleep(max(0.0, b.arrives_at - time.monotonic()))
    backoff = 0.2
    while True:
        b.tries += 1
        try:
            response = await api.post(
                f"/api/deals/{deal_id}/purchase",
                json={"quantity": 1},
                headers={"Authorization": f"Bearer {b.token}", "Idempotency-Key": b.key},
            )
            b.status = response.status_code
            body = response.json()
        except (httpx.HTTPError, ValueError):
            b.status, body = 599, {}  # the connection failed: a buyer's browser retries
        b.answers.append(b.status)
        b.code = (body.get("error") or {}).get("code", "") if b.status >= 400 else "reserved"
        if b.status < 400:
            b.order_id = body["order_id"]
        if b.status in RETRIED or b.status == 599 or b.code == NOT_STARTED:
            retry_after = float(response.headers.get("Retry-After", 0)) if b.status != 599 else 0
            await asyncio.sleep(max(retry_after, backoff * (0.5 + random.random())))
            backoff = min(backoff * 2, 2.0)
            continue
        b.answered_at = time.monotonic()
        return


async def _settle(api: httpx.AsyncClient, b: Buyer, what: str) -> tuple[bool, str]:
    for _ in range(10):
        response = await api.post(
            f"/api/orders/{b.order_id}/{what}", headers={"Authorization": f"Bearer {b.token}"}
        )
        if response.status_code == 200:
            return True, what
        if response.status_code not in RETRIED:
            return False, what
        await asyncio.sleep(0.5)
    return False, what
