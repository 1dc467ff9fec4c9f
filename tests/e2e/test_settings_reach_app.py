"""A setting given to `make up` reaches the running replicas, and `up` redeploys for it."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from cluster.local import stack as local_stack
from cluster.settings import Settings
from tests.e2e.api_client import create_deal, purchase, token
from tests.random_refs import suffix


@pytest.mark.timeout(600)
async def test_payment_timeout_from_the_environment_reaches_serve_and_shards(
    stack: Settings, api: httpx.AsyncClient, admin_token: str
) -> None:
    assert (await api.get("/api/config")).json()["payment_timeout_s"] == stack.payment_timeout_s
    # A deal whose shards run before the change: the new window must reach them too.
    deal = await create_deal(api, admin_token, stock=10, limit=2)
    buyer = token(stack, f"b-{suffix()}")
    assert (await purchase(api, deal["deal_id"], buyer, "before")).status_code == 201
    changed = Settings.from_env({**stack.to_env(), "FLASHSALE_PAYMENT_TIMEOUT_S": "61"})
    try:
        await asyncio.to_thread(local_stack.up, changed)
        assert (await api.get("/api/config")).json()["payment_timeout_s"] == 61
        response = await purchase(api, deal["deal_id"], buyer, "after")
        assert response.status_code == 201, response.text
        pay_by = datetime.fromisoformat(response.json()["pay_by"].replace("Z", "+00:00"))
        window = (pay_by - datetime.now(UTC)).total_seconds()
        assert 50 < window <= 61, window
    finally:
        await asyncio.to_thread(local_stack.up, stack)
    assert (await api.get("/api/config")).json()["payment_timeout_s"] == stack.payment_timeout_s
