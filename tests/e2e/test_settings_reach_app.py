"""A setting given to `make up` reaches the running replicas, and `up` redeploys for it."""

import asyncio

import httpx
import pytest

from cluster.local import stack as local_stack
from cluster.settings import Settings


@pytest.mark.timeout(600)
async def test_payment_timeout_from_the_environment_reaches_serve(
    stack: Settings, api: httpx.AsyncClient
) -> None:
    assert (await api.get("/api/config")).json()["payment_timeout_s"] == stack.payment_timeout_s
    changed = Settings.from_env({**stack.to_env(), "FLASHSALE_PAYMENT_TIMEOUT_S": "61"})
    try:
        await asyncio.to_thread(local_stack.up, changed)
        assert (await api.get("/api/config")).json()["payment_timeout_s"] == 61
    finally:
        await asyncio.to_thread(local_stack.up, stack)
    assert (await api.get("/api/config")).json()["payment_timeout_s"] == stack.payment_timeout_s
