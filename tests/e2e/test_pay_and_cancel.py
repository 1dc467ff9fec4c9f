"""Paying and cancelling through HTTP: the shard decides, exactly one of them wins."""

from __future__ import annotations

import asyncio

from cluster.settings import Settings
from tests.e2e.api_client import bearer, create_deal, purchase, stats, token
from tests.random_refs import suffix


async def test_pay_then_cancel_is_refused(stack: Settings, api, admin_token) -> None:
    deal = await create_deal(api, admin_token, stock=5, limit=2)
    buyer = token(stack, f"b-{suffix()}")
    order_id = (await purchase(api, deal["deal_id"], buyer, "k")).json()["order_id"]
    paid = await api.post(f"/api/orders/{order_id}/pay", headers=bearer(buyer))
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    again = await api.post(f"/api/orders/{order_id}/pay", headers=bearer(buyer))
    assert again.status_code == 200 and again.json()["status"] == "paid"
    late = await api.post(f"/api/orders/{order_id}/cancel", headers=bearer(buyer))
    assert late.status_code == 409 and late.json()["error"]["code"] == "order_paid"
    shown = (await api.get(f"/api/orders/{order_id}", headers=bearer(buyer))).json()
    assert shown["status"] == "paid"
    figures = await stats(api, admin_token, deal["deal_id"])
    assert (figures["available"], figures["held"], figures["sold"]) == (4, 0, 1)


async def test_cancel_returns_the_stock_and_pay_after_is_refused(
    stack: Settings, api, admin_token
) -> None:
    deal = await create_deal(api, admin_token, stock=1, limit=1)
    buyer = token(stack, f"b-{suffix()}")
    order_id = (await purchase(api, deal["deal_id"], buyer, "k")).json()["order_id"]
    cancelled = await api.post(f"/api/orders/{order_id}/cancel", headers=bearer(buyer))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused = await api.post(f"/api/orders/{order_id}/pay", headers=bearer(buyer))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_cancelled"
    # The unit is on sale again: another buyer gets it.
    other = token(stack, f"o-{suffix()}")
    assert (await purchase(api, deal["deal_id"], other, "k")).status_code == 201
    figures = await stats(api, admin_token, deal["deal_id"])
    assert (figures["held"], figures["cancelled"]) == (1, 1)


async def test_someone_elses_order_cannot_be_paid_or_cancelled(
    stack: Settings, api, admin_token
) -> None:
    deal = await create_deal(api, admin_token, stock=2, limit=1)
    owner = token(stack, f"b-{suffix()}")
    order_id = (await purchase(api, deal["deal_id"], owner, "k")).json()["order_id"]
    stranger = token(stack, f"s-{suffix()}")
    for action in ("pay", "cancel"):
        response = await api.post(f"/api/orders/{order_id}/{action}", headers=bearer(stranger))
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_order"
    assert (await api.post("/api/orders/NOSUCHORDER/pay", headers=bearer(owner))).status_code == 404
    assert (await api.post(f"/api/orders/{order_id}/pay")).status_code == 401


async def test_pay_and_cancel_at_once_exactly_one_wins(stack: Settings, api, admin_token) -> None:
    deal = await create_deal(api, admin_token, stock=40, limit=1)
    outcomes = []
    for i in range(40):
        buyer = token(stack, f"r{i}-{suffix()}")
        order_id = (await purchase(api, deal["deal_id"], buyer, "k")).json()["order_id"]
        pay, cancel = await asyncio.gather(
            api.post(f"/api/orders/{order_id}/pay", headers=bearer(buyer)),
            api.post(f"/api/orders/{order_id}/cancel", headers=bearer(buyer)),
        )
        assert sorted([pay.status_code, cancel.status_code]) == [200, 409], (pay.text, cancel.text)
        outcomes.append("paid" if pay.status_code == 200 else "cancelled")
    figures = await stats(api, admin_token, deal["deal_id"])
    assert figures["sold"] == outcomes.count("paid")
    assert figures["available"] == outcomes.count("cancelled")
    assert figures["held"] == 0 and figures["cancelled"] == outcomes.count("cancelled")
