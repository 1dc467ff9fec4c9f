"""Hostile callers over HTTP: forged, expired and malformed tokens on every route that
needs one, a buyer on admin routes, a buyer on another buyer's order. Each gets its
clear 4xx, and nothing that a refused request named has changed afterwards."""

from __future__ import annotations

import time
import warnings

import httpx
import jwt
import pytest

from cluster.settings import Settings
from tests.e2e.api_client import bearer, create_deal, purchase, stats, token
from tests.random_refs import suffix


def hs512(claims: dict, secret: str) -> str:
    with warnings.catch_warnings():  # the shop's secret is shorter than HS512 asks for
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, "HS512")


def hostile_tokens(secret: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 3600}
    without = lambda name: {k: v for k, v in claims.items() if k != name}  # noqa: E731
    return {
        # The classic: an unsigned token that claims to be an admin.
        "alg none": jwt.encode(claims, key=None, algorithm="none"),
        "wrong secret": jwt.encode(claims, "not the shop's secret, but long enough", "HS256"),
        "expired": jwt.encode({**claims, "exp": now - 60}, secret, "HS256"),
        "missing sub": jwt.encode(without("sub"), secret, "HS256"),
        "empty sub": jwt.encode({**claims, "sub": ""}, secret, "HS256"),
        "missing exp": jwt.encode(without("exp"), secret, "HS256"),
        "missing role": jwt.encode(without("role"), secret, "HS256"),
        "unknown role": jwt.encode({**claims, "role": "root"}, secret, "HS256"),
        # The right secret under another algorithm: only HS256 is accepted.
        "HS512": hs512(claims, secret),
        "garbage": "not.a.token",
    }


def calls(deal_id: str, order_id: str) -> list[tuple[str, str, dict]]:
    """Every route that needs a token: (method, path, json body)."""
    return [
        ("POST", f"/api/deals/{deal_id}/purchase", {"quantity": 1}),
        ("GET", f"/api/orders/{order_id}", {}),
        ("POST", f"/api/orders/{order_id}/pay", {}),
        ("POST", f"/api/orders/{order_id}/cancel", {}),
        ("POST", "/api/admin/products", {"name": f"forged-{suffix()}"}),
        ("GET", f"/api/admin/deals/{deal_id}/stats", {}),
        (
            "POST",
            "/api/admin/deals",
            {
                "product_id": "none",
                "price_cents": 1,
                "stock": 1,
                "per_user_limit": 1,
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-02T00:00:00Z",
            },
        ),
    ]


async def send(api: httpx.AsyncClient, method: str, path: str, body: dict, tok: str | None):
    headers = {"Idempotency-Key": f"k-{suffix()}"}
    if tok is not None:
        headers.update(bearer(tok))
    return await api.request(method, path, json=body or None, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str, why: str) -> None:
    assert response.status_code == status, (why, response.status_code, response.text)
    assert response.json()["error"]["code"] == code, (why, response.text)


@pytest.fixture
async def sale(stack: Settings, api, admin_token):
    """A live deal with one reserved order of its owner: what the hostile calls aim at."""
    deal = await create_deal(api, admin_token, stock=5, limit=1)
    owner = token(stack, f"owner-{suffix()}")
    bought = await purchase(api, deal["deal_id"], owner, "k")
    assert bought.status_code == 201, bought.text
    return deal["deal_id"], owner, bought.json()["order_id"]


async def test_hostile_tokens_are_401_everywhere_and_change_nothing(
    stack: Settings, api, admin_token, sale
) -> None:
    deal_id, owner, order_id = sale
    before = await stats(api, admin_token, deal_id)
    for name, tok in {**hostile_tokens(stack.jwt_secret), "no token": None}.items():
        for method, path, body in calls(deal_id, order_id):
            response = await send(api, method, path, body, tok)
            assert_error(response, 401, "unauthorized", f"{name}: {method} {path}")
            assert response.headers.get("www-authenticate") == "Bearer", (name, path)
    assert await stats(api, admin_token, deal_id) == before
    mine = await api.get(f"/api/orders/{order_id}", headers=bearer(owner))
    assert mine.json()["status"] == "reserved"


async def test_a_buyer_on_admin_routes_is_403(stack: Settings, api, admin_token, sale) -> None:
    deal_id, owner, order_id = sale
    before = await stats(api, admin_token, deal_id)
    for method, path, body in calls(deal_id, order_id):
        if path.startswith("/api/admin"):
            response = await send(api, method, path, body, owner)
            assert_error(response, 403, "forbidden", f"{method} {path}")
    assert await stats(api, admin_token, deal_id) == before


async def test_another_buyers_order_is_not_found_to_read_pay_or_cancel(
    stack: Settings, api, admin_token, sale
) -> None:
    deal_id, owner, order_id = sale
    before = await stats(api, admin_token, deal_id)
    stranger = token(stack, f"stranger-{suffix()}")
    # 404, not 403: a stranger cannot even learn that the order exists.
    for method, path in (
        ("GET", f"/api/orders/{order_id}"),
        ("POST", f"/api/orders/{order_id}/pay"),
        ("POST", f"/api/orders/{order_id}/cancel"),
    ):
        response = await send(api, method, path, {}, stranger)
        assert_error(response, 404, "unknown_order", f"{method} {path}")
    assert await stats(api, admin_token, deal_id) == before
    mine = await api.get(f"/api/orders/{order_id}", headers=bearer(owner))
    assert mine.json()["status"] == "reserved"
    # The owner still can: the refusals were about who asked, not about the order.
    paid = await api.post(f"/api/orders/{order_id}/pay", headers=bearer(owner))
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
