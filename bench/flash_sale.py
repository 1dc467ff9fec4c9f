"""The flash sale itself: many buyers at the start of one deal, as a shop meets it.

N buyers (20,000 by default) against S units (5,000): every buyer's first try lands in
the first seconds around the start (some early: they are told ``not_started`` and try
again at the start), each retries a 503 or 429 with the same Idempotency-Key and a
growing, jittered back-off, and stops at an answer (reserved, sold out, limit). Then of
those who reserved, some pay, some cancel and the rest walk away, so their orders expire
at the payment deadline and their units come back. Each decides right after their own
reservation and acts after a think time (1-10 s), as buyers at a checkout page do. It
reports what the shop must
guarantee: the time to sell out, the answers by outcome, oversell (must be 0), orders in
MySQL against orders acknowledged (must be equal), how long MySQL took to catch up, and
the audit.

The buyers share a pool of keep-alive connections (bench/http1.py), one worker per
connection taking the next buyer who is due; the generator's CPU share is in the run's
per-part table, so a reader can see whether it held the shop back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.http1 import Connection
from cluster.settings import Settings

RETRIED = {429, 503, 599}  # 599: the connection failed; a buyer's browser retries
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
    backoff_s: float = 0.2
    intent: str = "walk away"  # what they do once reserved: pay, cancel, walk away
    settling: bool = False
    answers: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    buyers: int = 20_000
    stock: int = 5_000
    arrive_over_s: float = 3.0  # first tries spread over this much from the start
    early_s: float = 0.5  # ... and starting this much before it
    pay_share: float = 0.6
    cancel_share: float = 0.1  # the rest walk away and expire
    think_s: tuple[float, float] = (1.0, 10.0)  # from the reservation to paying or cancelling
    connections: int = 256


# A job: one request on a connection; it returns when to try again (None: done).
Job = Callable[[Connection], Awaitable[float | None]]


async def _work(settings: Settings, jobs: list[tuple[float, Job]], connections: int) -> None:
    """Run every job, each no earlier than its time, retried when it asks, on
    ``connections`` keep-alive connections."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    pending = len(jobs)
    done = asyncio.Event()
    if not pending:
        return

    def enqueue(job: Job) -> None:
        queue.put_nowait(job)

    for at, job in jobs:
        loop.call_at(loop.time() + max(0.0, at - time.monotonic()), enqueue, job)

    async def worker() -> None:
        nonlocal pending
        conn = Connection("127.0.0.1", settings.http_port)
        try:
            while True:
                job = await queue.get()
                again = await job(conn)
                if again is None:
                    pending -= 1
                    if not pending:
                        done.set()
                else:
                    loop.call_later(again, enqueue, job)
        finally:
            await conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    try:
        await done.wait()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def run_sale(
    settings: Settings, deal_id: str, starts_at: float, tokens: list[str], scenario: Scenario
) -> dict:
    """``starts_at``: the deal's start, time.time(). Returns what happened."""
    start_m = starts_at + time.monotonic() - time.time()
    buyers = [
        Buyer(
            token, f"fs-{i}", start_m - scenario.early_s + random.random() * scenario.arrive_over_s
        )
        for i, token in enumerate(tokens)
    ]
    settled: dict[str, list[int]] = {"pay": [], "cancel": []}
    # Decided before the sale (by share), acted on after each buyer's own reservation.
    choices = ["pay", "cancel", "walk away"]
    weights = [scenario.pay_share, scenario.cancel_share]
    weights.append(1 - sum(weights))
    for b in buyers:
        b.intent = random.choices(choices, weights)[0]
    await _work(
        settings,
        [(b.arrives_at, _buying(deal_id, b, scenario.think_s, settled)) for b in buyers],
        scenario.connections,
    )
    reserved = [b for b in buyers if b.status in (200, 201)]
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
        "paid": settled["pay"].count(200),
        "cancelled": settled["cancel"].count(200),
        "walked_away": sum(1 for b in reserved if b.intent == "walk away"),
        "settle_answers": {w: dict(Counter(codes)) for w, codes in settled.items()},
        "order_ids": sorted(b.order_id for b in reserved),
    }


def _buying(
    deal_id: str, b: Buyer, think_s: tuple[float, float], settled: dict[str, list[int]]
) -> Job:
    """The buyer's job: buy (retrying as told), then, once reserved, pay or cancel
    after a think time (the same job, so one queue paces both)."""
    settle = _settling(b, settled)

    async def attempt(conn: Connection) -> float | None:
        if b.settling:
            return await settle(conn)
        b.tries += 1
        retry_after = 0.0
        try:
            status, headers, body = await conn.request(
                "POST",
                f"/api/deals/{deal_id}/purchase",
                {"Authorization": f"Bearer {b.token}", "Idempotency-Key": b.key},
                {"quantity": 1},
            )
            retry_after = float(headers.get("retry-after", 0))
        except ConnectionError:
            status, body = 599, {}
        b.status = status
        b.answers.append(status)
        b.code = (body.get("error") or {}).get("code", "") if status >= 400 else "reserved"
        if status < 400:
            b.order_id = body["order_id"]
        if status in RETRIED or b.code == NOT_STARTED:
            wait = max(retry_after, b.backoff_s * (0.5 + random.random()))
            b.backoff_s = min(b.backoff_s * 2, 2.0)
            return wait
        b.answered_at = time.monotonic()
        if status < 400 and b.intent != "walk away":
            b.settling = True
            return random.uniform(*think_s)
        return None

    return attempt


def _settling(b: Buyer, settled: dict[str, list[int]]) -> Job:
    """Pay or cancel as a buyer's page does: a 503 or 429 is tried again after its
    Retry-After (or a growing back-off), for up to a minute."""
    give_up_at = 0.0
    backoff_s = 0.2

    async def attempt(conn: Connection) -> float | None:
        nonlocal backoff_s, give_up_at
        give_up_at = give_up_at or time.monotonic() + 60
        retry_after = 0.0
        try:
            status, headers, _ = await conn.request(
                "POST",
                f"/api/orders/{b.order_id}/{b.intent}",
                {"Authorization": f"Bearer {b.token}"},
                None,
            )
            retry_after = float(headers.get("retry-after", 0))
        except ConnectionError:
            status = 599
        if status in RETRIED and time.monotonic() < give_up_at:
            wait = max(retry_after, backoff_s * (0.5 + random.random()))
            backoff_s = min(backoff_s * 2, 2.0)
            return wait
        settled[b.intent].append(status)
        return None

    return attempt
