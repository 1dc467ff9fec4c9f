"""What both baselines share: the HTTP contract of flashsale's purchase, the token
check, the ``/stats`` counters and the uvicorn start-up.

A baseline is a ``Backend`` (``start``, ``stop``, ``purchase``); ``build_app`` puts
flashsale's purchase contract in front of it as a plain Starlette app, and ``main``
serves that on one uvicorn process. Everything around the backend is the same for both
baselines, so their figures differ only by how they sell.

``GET /stats`` (counted: every request but ``/stats`` itself)::

    {"time": <epoch s>, "started": <epoch s>,
     "requests": {"201": n, "410": n, ...},          # answered, by status
     "latency_s": {"le": [0.0005, ..., 2.5, "+Inf"],
                   "buckets": [n, ...],              # cumulative, as Prometheus' le
                   "count": n, "sum": s}}

Latency is server side: from the request reaching the app to its last body byte handed
to uvicorn (not the socket's queueing before that; wrk's own figures include it).
"""

from __future__ import annotations

import argparse
import enum
import importlib.util
import json
import os
import re
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.domain.deals import MAX_QUANTITY
from cluster.settings import Settings
from serve_app.auth import TokenVerifier, authenticate
from serve_app.timefmt import iso

LATENCY_BOUNDS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# flashsale's deal ids and Idempotency-Keys (serve_app/services/purchase.py, routes/purchase.py)
DEAL_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Refusal(enum.Enum):
    """A purchase not made: (status, code, message) as flashsale answers it."""

    UNKNOWN_DEAL = (404, "unknown_deal", "no such deal")
    LIMIT_EXCEEDED = (409, "limit_exceeded", "that would take you over this deal's limit per buyer")
    SOLD_OUT = (410, "sold_out", "this deal is sold out")
    UNAVAILABLE = (503, "unavailable", "please retry")


class Backend(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def purchase(self, deal_id: str, user_id: str, quantity: int) -> str | Refusal:
        """The new order's id, or why not."""
        ...


class Stats:
    """Requests answered by status and a cumulative latency histogram."""

    def __init__(self) -> None:
        self.started = time.time()
        self._by_status: dict[int, int] = {}
        self._buckets = [0] * (len(LATENCY_BOUNDS_S) + 1)  # the last one is +Inf
        self._sum_s = 0.0

    def observe(self, status: int, seconds: float) -> None:
        self._by_status[status] = self._by_status.get(status, 0) + 1
        # bisect_left: a latency equal to a bound counts in that bound's bucket (le)
        self._buckets[bisect_left(LATENCY_BOUNDS_S, seconds)] += 1
        self._sum_s += seconds

    def snapshot(self) -> dict[str, Any]:
        cumulative, running = [], 0
        for n in self._buckets:
            running += n
            cumulative.append(running)
        return {
            "time": time.time(),
            "started": self.started,
            "requests": {str(s): n for s, n in sorted(self._by_status.items())},
            "latency_s": {
                "le": [*LATENCY_BOUNDS_S, "+Inf"],
                "buckets": cumulative,
                "count": running,
                "sum": self._sum_s,
            },
        }


class Measured:
    """ASGI middleware, outermost: times and counts every HTTP request but ``/stats``."""

    def __init__(self, app: ASGIApp, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/stats":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app dies before it answers, Starlette answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.stats.observe(status, time.perf_counter() - started)


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers)


def _quantity(raw: bytes) -> int | str:
    """The quantity, or why the body is not acceptable (flashsale's rules)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(body, dict) or set(body) != {"quantity"}:
        return 'the body must be {"quantity": <integer>} and nothing else'
    quantity = body["quantity"]
    if type(quantity) is float and quantity.is_integer():
        quantity = int(quantity)
    if type(quantity) is not int:
        return "quantity must be an integer"
    if not 1 <= quantity <= MAX_QUANTITY:
        return f"quantity must be between 1 and {MAX_QUANTITY}"
    return quantity


def build_app(settings: Settings, backend: Backend) -> ASGIApp:
    stats = Stats()
    tokens = TokenVerifier(settings.jwt_secret)

    async def purchase(request: Request) -> JSONResponse:
        who = authenticate(tokens, request.headers.get("authorization", ""))
        if isinstance(who, str):
            return error(401, "unauthorized", who, {"WWW-Authenticate": "Bearer"})
        # The key is checked as flashsale checks it, but not remembered: see the modules.
        if not KEY.fullmatch(request.headers.get("idempotency-key", "")):
            return error(422, "invalid_request", "Idempotency-Key must be 1-64 of [A-Za-z0-9_-]")
        quantity = _quantity(await request.body())
        if isinstance(quantity, str):
            return error(422, "invalid_request", quantity)
        deal_id = request.path_params["deal_id"]
        outcome = (
            await backend.purchase(deal_id, who.user_id, quantity)
            if DEAL_ID.fullmatch(deal_id)
            else Refusal.UNKNOWN_DEAL
        )
        if isinstance(outcome, Refusal):
            status, code, message = outcome.value
            return error(status, code, message, {"Retry-After": "1"} if status == 503 else None)
        return JSONResponse({"order_id": outcome, "status": "reserved"}, 201)

    async def server_time(request: Request) -> JSONResponse:
        now = time.time()
        return JSONResponse({"now": iso(now), "epoch_ms": int(now * 1000)})

    async def stats_page(request: Request) -> JSONResponse:
        return JSONResponse(stats.snapshot())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()

    app = Starlette(
        routes=[
            Route("/api/deals/{deal_id}/purchase", purchase, methods=["POST"]),
            Route("/api/time", server_time, methods=["GET"]),
            Route("/stats", stats_page, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return Measured(app, stats)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def main(
    description: str, make_backend: Callable[[Settings], Backend], argv: list[str] | None
) -> int:
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    uvicorn.run(
        build_app(settings, make_backend(settings)),
        host=args.host,
        port=args.port,
        # One process, the fast loop and parser when present (they are with uvicorn[standard]).
        workers=1,
        loop="uvloop" if _installed("uvloop") else "asyncio",
        http="httptools" if _installed("httptools") else "h11",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    return 0
