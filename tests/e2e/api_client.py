"""A small HTTP client for the running app, as a buyer's or operator's program sees it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from cluster.settings import Settings


def client(settings: Settings, timeout_s: float = 10.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=timeout_s)


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
