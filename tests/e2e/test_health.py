"""/healthz through HAProxy and Serve: green when every part answers, 503 naming the part
that is really stopped, and green again once it is back."""

import asyncio

import httpx
import pytest

from cluster.local.stack import SERVICES, local_service
from cluster.settings import Settings
from tests.e2e.api_client import wait_for_health

PARTS = {"redis", "mysql", "kafka", "ray"}


def all_up(status: int, body: dict) -> bool:
    return status == 200 and body.get("status") == "ok"


async def test_healthz_names_every_part_up(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["parts"]) == PARTS
    assert {p["state"] for p in body["parts"].values()} == {"up"}
    # This replica's circuit breakers, beside the probes of what they guard.
    assert body["parts"]["redis"]["breaker"] == "closed"
    assert body["parts"]["mysql"]["breaker"] == "closed"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", ["redis", "mysql", "kafka"])
async def test_healthz_reports_a_stopped_part_and_recovers(
    stack: Settings, api: httpx.AsyncClient, name: str
) -> None:
    if SERVICES[name][0] in stack.given:
        pytest.skip(f"{name} is external; this test stops it")
    service = local_service(stack, name)
    await wait_for_health(api, all_up)
    try:
        await asyncio.to_thread(service.stop)
        _, body = await wait_for_health(
            api, lambda s, b: s == 503 and b["parts"][name]["state"] == "down"
        )
        assert body["error"]["code"] == "unavailable"
        assert name in body["error"]["message"]
        others = {p: v["state"] for p, v in body["parts"].items() if p != name}
        assert set(others.values()) == {"up"}, others
    finally:
        await asyncio.to_thread(service.start)
    await wait_for_health(api, all_up, timeout_s=90)


async def test_time_endpoint(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/time")).json()
    assert body["now"].endswith("Z") and body["epoch_ms"] > 0


async def test_errors_have_the_contract_shape_through_serve(api: httpx.AsyncClient) -> None:
    for method, path, status, code in [
        ("GET", "/nope", 404, "not_found"),
        ("DELETE", "/api/time", 405, "method_not_allowed"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
    big = await api.post("/api/time", content=b"x" * (64 * 1024))
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "body_too_large"


async def test_openapi_is_published(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert "/healthz" in spec["paths"] and "/api/time" in spec["paths"]
    assert (await api.get("/docs")).status_code == 200
