"""The error shape and the body limit, on the FastAPI app alone (no Ray, no services)."""

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.exceptions

from actors.ports import DependencyDown
from cluster.settings import Settings
from serve_app.auth import issue_token
from serve_app.backends import Backends
from serve_app.bootstrap import build_shop
from serve_app.fast_path import PurchaseFastPath
from serve_app.fastapi_app import create_api


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.from_env(
        {"FLASHSALE_JWT_SECRET": "s" * 32, "FLASHSALE_MAX_BODY_BYTES": "1024"}
    )
    api = create_api(build_shop(settings, Backends(settings)))  # nothing connects yet

    @api.post("/echo")
    async def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_time_is_iso_utc(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/time")).json()
    assert body["now"].endswith("Z")
    assert isinstance(body["epoch_ms"], int)


async def test_unknown_path_is_404_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/no/such/thing"), 404, "not_found")


async def test_wrong_method_is_405_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/api/time"), 405, "method_not_allowed")


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(r, 422, "invalid_request")


async def test_wrong_type_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/echo", json={"quantity": "lots"})
    assert_error(r, 422, "invalid_request")
    assert "quantity" in r.json()["error"]["message"]


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/echo", content=b"x" * 2048), 413, "body_too_large")


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():
        for _ in range(8):
            yield b"x" * 256

    assert_error(await client.post("/echo", content=chunks()), 413, "body_too_large")


async def test_body_within_limit_passes(client: httpx.AsyncClient) -> None:
    assert (await client.post("/echo", json={"a": 1})).json() == {"a": 1}


async def test_crash_is_500_json_without_details(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom")
    assert_error(r, 500, "internal_error")
    assert "kaput" not in r.text


@pytest.mark.parametrize(
    ("raised", "retry_after"),
    [
        (DependencyDown("redis is unavailable (its circuit breaker is open)", 4.2), "5"),
        (redis.exceptions.ConnectionError("a socket closed"), None),
        (RuntimeError("kaput"), None),
    ],
)
async def test_the_purchase_fast_path_answers_a_dependency_away_as_the_app_does(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, retry_after: str | None
) -> None:
    """The fast path (serve_app/fast_path.py) bypasses FastAPI's handlers: an open
    breaker under it is a 503 with Retry-After, as on every other route, and only an
    unexpected error is a 500 (the flash sale bench once got 111 such 500s)."""
    settings = Settings.from_env({"FLASHSALE_JWT_SECRET": "s" * 32})
    shop = build_shop(settings, Backends(settings))

    async def purchase(*_: object) -> None:
        raise raised

    monkeypatch.setattr(shop.purchases, "purchase", purchase)
    app = PurchaseFastPath(create_api(shop), shop)
    token, _ = issue_token(settings.jwt_secret, "u1", "buyer", 60)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post(
            "/api/deals/d1/purchase",
            json={"quantity": 1},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k1"},
        )
    if isinstance(raised, RuntimeError):
        assert_error(r, 500, "internal_error")
        assert "kaput" not in r.text
    else:
        assert_error(r, 503, "unavailable")
        assert r.headers["Retry-After"] == (retry_after or "1")
