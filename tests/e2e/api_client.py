"""A small HTTP client for the running app, as a buyer's or operator's program sees it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from cluster.settings import Settings


def client(
    settings: Settings, timeout_s: float = 10.0, connections: int = 100
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.http_port}",
        timeout=timeout_s,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def wait_for_health(
    api: httpx.AsyncClient, predicate: Any, timeout_s: float = 60.0
) -> tuple[int, dict[str, Any]]:
    """Poll /healthz until ``predicate(status, body)`` holds; return the last answer."""
    deadline = time.monotonic() + timeout_s
    status, body = 0, {}
    while time.monotonic() < deadline:
        try:
            response = await api.get("/healthz")
            status, body = response.status_code, response.json()
            if predicate(status, body):
                return status, body
        except (httpx.HTTPError, ValueError):
            pass
        await asyncio.sleep(0.5)
    raise AssertionError(f"/healthz never matched; last answer {status} {body}")


# Deals made by tests: their shard actors are retired after each test (tests/e2e/conftest.py)
# so that a session does not pile up one worker process per shard of every test deal.
# Each with the shard count it asked for (None: the stack's FLASHSALE_SHARDS_PER_DEAL).
CREATED_DEALS: list[tuple[str, int | None]] = []


def token(settings: Settings, user_id: str, role: str = "buyer", ttl_s: int = 3600) -> str:
    """A token as the shop's identity provider would issue it (same secret, same claims)."""
    from serve_app.auth import issue_token

    return issue_token(settings.jwt_secret, user_id, role, ttl_s)[0]


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def iso_in(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def create_deal(
    api: httpx.AsyncClient,
    admin_token: str,
    *,
    stock: int,
    limit: int,
    starts_in_s: float = -5,
    ends_in_s: float = 3600,
    price_cents: int = 1999,
    shards: int | None = None,
) -> dict[str, Any]:
    product = await api.post(
        "/api/admin/products",
        json={"name": "Test widget", "description": "made by a test"},
        headers=bearer(admin_token),
    )
    assert product.status_code == 201, product.text
    deal = await api.post(
        "/api/admin/deals",
        json={
            "product_id": product.json()["product_id"],
            "price_cents": price_cents,
            "stock": stock,
            "per_user_limit": limit,
            "starts_at": iso_in(starts_in_s),
            "ends_at": iso_in(ends_in_s),
            **({"shards": shards} if shards is not None else {}),
        },
        headers=bearer(admin_token),
    )
    assert deal.status_code == 201, deal.text
    CREATED_DEALS.append((deal.json()["deal_id"], shards))
    return deal.json()


async def purchase(
    api: httpx.AsyncClient, deal_id: str, tok: str, key: str, quantity: Any = 1
) -> httpx.Response:
    return await api.post(
        f"/api/deals/{deal_id}/purchase",
        json={"quantity": quantity},
        headers={**bearer(tok), "Idempotency-Key": key},
    )


async def stats(api: httpx.AsyncClient, admin_token: str, deal_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/admin/deals/{deal_id}/stats", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    return response.json()
