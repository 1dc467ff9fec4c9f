"""Accounts, the admin CLI, and the catalogue through HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cluster.settings import Settings
from ops.cli import create_admin
from tests.e2e.api_client import bearer, create_deal, iso_in, stats, token
from tests.random_refs import suffix


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


async def test_register_login_and_buy_with_the_token(api, admin_token) -> None:
    name = f"ann_{suffix()}"
    created = await api.post(
        "/api/auth/register", json={"username": name, "password": "s3cret-pass"}
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["user_id"]
    again = await api.post("/api/auth/register", json={"username": name, "password": "other-pass"})
    assert_error(again, 409, "username_taken")
    login = await api.post("/api/auth/login", json={"username": name, "password": "s3cret-pass"})
    assert login.status_code == 200, login.text
    assert login.json()["expires_at"].endswith("Z")
    tok = login.json()["token"]
    deal = await create_deal(api, admin_token, stock=3, limit=1)
    bought = await api.post(
        f"/api/deals/{deal['deal_id']}/purchase",
        json={"quantity": 1},
        headers={**bearer(tok), "Idempotency-Key": "first"},
    )
    assert bought.status_code == 201, bought.text
    order = await api.get(f"/api/orders/{bought.json()['order_id']}", headers=bearer(tok))
    assert order.status_code == 200 and order.json()["deal_id"] == deal["deal_id"]
    assert user_id  # the token's subject is this account
    # A buyer is not an admin.
    assert_error(
        await api.post("/api/admin/products", json={"name": "x"}, headers=bearer(tok)),
        403,
        "forbidden",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab", "password": "long enough"},
        {"username": "has space", "password": "long enough"},
        {"username": "fine_name", "password": "short"},
        {"username": "fine_name", "password": "long enough", "role": "admin"},
        {"username": 12345, "password": "long enough"},
    ],
)
async def test_bad_registrations_are_422(api, body) -> None:
    assert_error(await api.post("/api/auth/register", json=body), 422, "invalid_request")


async def test_wrong_password_and_unknown_user_are_401(api) -> None:
    name = f"bob_{suffix()}"
    await api.post("/api/auth/register", json={"username": name, "password": "right-pass"})
    for creds in (
        {"username": name, "password": "wrong-pass"},
        {"username": f"nobody_{suffix()}", "password": "whatever1"},
    ):
        assert_error(await api.post("/api/auth/login", json=creds), 401, "bad_credentials")


async def test_the_cli_makes_an_admin_who_can_log_in_and_sell(stack: Settings, api) -> None:
    name = f"boss_{suffix()}"
    await asyncio.to_thread(create_admin, stack, name, "admin-pass-1")
    login = await api.post("/api/auth/login", json={"username": name, "password": "admin-pass-1"})
    assert login.status_code == 200, login.text
    product = await api.post(
        "/api/admin/products",
        json={"name": "Lamp", "description": "bright"},
        headers=bearer(login.json()["token"]),
    )
    assert product.status_code == 201, product.text


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"stock": 0}, "stock"),
        ({"per_user_limit": 0}, "per_user_limit"),
        ({"price_cents": -1}, "price_cents"),
        ({"ends_at": "START"}, "ends_at"),
        ({"starts_at": "2030-01-01T00:00:00"}, "starts_at"),  # no time zone
        ({"stock": "10"}, "stock"),
        ({"surprise": 1}, "surprise"),
        ({"shards": 0}, "shards"),
        ({"shards": 65}, "shards"),
        ({"shards": 2.5}, "shards"),  # 2.0 is a JSON integer (JSON Schema): accepted
        ({"stock": True}, "stock"),
    ],
)
async def test_bad_deals_are_422_and_nothing_is_listed(api, admin_token, change, fragment) -> None:
    product = await api.post(
        "/api/admin/products", json={"name": "Widget"}, headers=bearer(admin_token)
    )
    body = {
        "product_id": product.json()["product_id"],
        "price_cents": 500,
        "stock": 10,
        "per_user_limit": 1,
        "starts_at": iso_in(60),
        "ends_at": iso_in(3600),
    }
    body.update(change)
    if body.get("ends_at") == "START":
        body["ends_at"] = body["starts_at"]
    before = {d["deal_id"] for d in (await api.get("/api/deals")).json()}
    response = await api.post("/api/admin/deals", json=body, headers=bearer(admin_token))
    assert_error(response, 422, "invalid_request")
    assert fragment in response.json()["error"]["message"]
    assert {d["deal_id"] for d in (await api.get("/api/deals")).json()} == before


async def test_a_deal_runs_on_the_shards_it_asks_for(stack: Settings, api, admin_token) -> None:
    default = await create_deal(api, admin_token, stock=10, limit=1)
    three = await create_deal(api, admin_token, stock=10, limit=1, shards=3)
    figures = await stats(api, admin_token, default["deal_id"])
    assert len(figures["shards"]) == stack.shards_per_deal
    figures = await stats(api, admin_token, three["deal_id"])
    assert [s["shard"] for s in figures["shards"]] == [0, 1, 2]
    assert sum(s["available"] for s in figures["shards"]) + figures["pool"] == 10


async def test_unknown_product_is_404(api, admin_token) -> None:
    response = await api.post(
        "/api/admin/deals",
        json={
            "product_id": "no-such-product",
            "price_cents": 1,
            "stock": 1,
            "per_user_limit": 1,
            "starts_at": iso_in(0),
            "ends_at": iso_in(60),
        },
        headers=bearer(admin_token),
    )
    assert_error(response, 404, "unknown_product")


async def test_admin_endpoints_need_an_admin(stack: Settings, api) -> None:
    assert_error(await api.post("/api/admin/products", json={"name": "x"}), 401, "unauthorized")
    buyer = token(stack, f"b-{suffix()}")
    assert_error(await api.get("/api/admin/deals/x/stats", headers=bearer(buyer)), 403, "forbidden")


async def test_deals_are_listed_with_status_and_remaining(api, admin_token) -> None:
    upcoming = await create_deal(
        api, admin_token, stock=7, limit=1, starts_in_s=3600, ends_in_s=7200
    )
    open_now = await create_deal(api, admin_token, stock=5, limit=1)
    listed = {d["deal_id"]: d for d in (await api.get("/api/deals")).json()}
    assert listed[upcoming["deal_id"]]["status"] == "upcoming"
    assert listed[upcoming["deal_id"]]["remaining"] == 7
    assert listed[open_now["deal_id"]]["status"] == "open"
    one = (await api.get(f"/api/deals/{open_now['deal_id']}")).json()
    assert one["product"]["name"] == "Test widget" and one["price_cents"] == 1999
    assert_error(await api.get("/api/deals/no-such-deal"), 404, "unknown_deal")
