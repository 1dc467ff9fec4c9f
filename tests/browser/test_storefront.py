"""A buyer, a second buyer and an admin use the storefront in Chromium, against the
running stack: what they see is what the API did (checked through the API after)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cluster.settings import Settings
from ops.cli import create_admin
from tests.browser.conftest import PAYMENT_WINDOW_S, shot
from tests.e2e.api_client import token
from tests.random_refs import suffix

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def tid(name: str) -> str:
    return f"[data-testid={name}]"


@pytest.fixture
def admin_api(shop: Settings) -> httpx.Client:
    tok = token(shop, f"browser-admin-{suffix()}", role="admin")
    with httpx.Client(
        base_url=f"http://127.0.0.1:{shop.http_port}",
        headers={"Authorization": f"Bearer {tok}"},
        timeout=30,
    ) as client:
        yield client


def open_deal(api: httpx.Client, *, stock: int, limit: int, starts_in_s: float) -> dict[str, Any]:
    product = api.post(
        "/api/admin/products",
        json={"name": f"Lamp {suffix()}", "description": "Bright, and only a few of them."},
    )
    assert product.status_code == 201, product.text
    now = datetime.now(UTC)
    deal = api.post(
        "/api/admin/deals",
        json={
            "product_id": product.json()["product_id"],
            "price_cents": 1999,
            "stock": stock,
            "per_user_limit": limit,
            "starts_at": (now + timedelta(seconds=starts_in_s)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert deal.status_code == 201, deal.text
    return deal.json()


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def register(page, username: str, *, keyboard: bool = False) -> None:
    page.goto("/#/login")
    if keyboard:
        # Keyboard only: focus the field, type, Tab to the next, Enter submits.
        page.locator(tid("register-username")).focus()
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        page.keyboard.type("a-good-password")
        page.keyboard.press("Enter")
    else:
        page.locator(tid("register-username")).fill(username)
        page.locator(tid("register-password")).fill("a-good-password")
        page.locator(tid("register-button")).click()
    page.locator(tid("auth-user")).filter(has_text=username).wait_for()


def session_token(page) -> str:
    return json.loads(page.evaluate("localStorage.getItem('flashsale.session')"))["token"]


def test_a_buyer_watches_the_countdown_buys_and_pays_and_the_next_sees_sold_out(
    shop: Settings, new_page, admin_api: httpx.Client
) -> None:
    deal = open_deal(admin_api, stock=1, limit=1, starts_in_s=15)
    starts = epoch(deal["starts_at"])
    page = new_page(**PHONE)
    # This browser's clock is ten minutes fast: only the server's time may open the sale.
    page.clock.set_system_time(datetime.now(UTC) + timedelta(minutes=10))
    register(page, f"ann_{suffix()}")

    page.goto(f"/#/deal/{deal['deal_id']}")
    page.locator(f"{tid('view-deal')}[data-state=ready]").wait_for()
    page.locator("body[data-clock=synced]").wait_for()
    buy = page.locator(tid("buy-button"))
    assert time.time() < starts - 2, "premise: the page loaded with seconds to go"
    assert buy.is_disabled(), "the buy button is live before the server's start"
    assert page.locator(tid("deal-countdown")).is_visible()
    shot(page, "1-countdown")

    buy.wait_for(state="visible")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=buy-button]').disabled",
        timeout=(starts - time.time() + 30) * 1000,
    )
    # The page's offset is good to its round trip; a local clock would have been 600 s off.
    assert time.time() >= starts - 1.0, f"enabled {starts - time.time():.1f}s early"
    shot(page, "2-live")

    buy.click()
    result = page.locator(f"{tid('purchase-result')}[data-outcome=reserved]")
    result.wait_for()
    order_id = result.get_attribute("data-order-id")
    assert page.locator(tid("purchase-pay-by")).is_visible()
    shot(page, "3-reserved")

    page.locator(tid("purchase-order-link")).click()
    order = page.locator(f"{tid('order')}[data-order-id='{order_id}']")
    order.and_(page.locator("[data-status=reserved]")).wait_for()
    order.locator(tid("pay-button")).click()
    order.and_(page.locator("[data-status=paid]")).wait_for()
    shot(page, "4-paid")
    seen = admin_api.get(
        f"/api/orders/{order_id}", headers={"Authorization": f"Bearer {session_token(page)}"}
    )
    assert seen.json()["status"] == "paid", seen.text

    # A second buyer, keyboard only, on a desktop-sized window: the deal is sold out.
    second = new_page()
    register(second, f"ben_{suffix()}", keyboard=True)
    second.goto(f"/#/deal/{deal['deal_id']}")
    second.locator(f"{tid('view-deal')}[data-status=sold_out]").wait_for()
    assert second.locator(tid("buy-button")).is_disabled()
    shot(second, "5-sold-out")
    figures = admin_api.get(f"/api/admin/deals/{deal['deal_id']}/stats").json()
    assert (figures["sold"], figures["held"], figures["available"]) == (1, 0, 0), figures


def test_an_unpaid_order_expires_on_the_page(
    shop: Settings, new_page, admin_api: httpx.Client
) -> None:
    deal = open_deal(admin_api, stock=2, limit=1, starts_in_s=-5)
    page = new_page(**PHONE)
    register(page, f"cal_{suffix()}")
    page.goto(f"/#/deal/{deal['deal_id']}")
    page.locator(tid("buy-button")).click()
    result = page.locator(f"{tid('purchase-result')}[data-outcome=reserved]")
    result.wait_for()
    order_id = result.get_attribute("data-order-id")

    page.goto("/#/orders")
    order = page.locator(f"{tid('order')}[data-order-id='{order_id}']")
    order.and_(page.locator("[data-status=reserved]")).wait_for()
    assert order.locator(tid("order-pay-by")).is_visible()
    shot(page, "6-unpaid")
    # Nobody pays: at the deadline the server cancels it, and the page shows so.
    order.and_(page.locator("[data-status=cancelled]")).wait_for(
        timeout=(PAYMENT_WINDOW_S + 60) * 1000
    )
    assert order.locator(tid("pay-button")).is_hidden()
    shot(page, "7-expired")
    figures = admin_api.get(f"/api/admin/deals/{deal['deal_id']}/stats").json()
    assert (figures["held"], figures["available"], figures["cancelled"]) == (0, 2, 1), figures


def test_the_admin_creates_a_deal_through_the_form(
    shop: Settings, new_page, admin_api: httpx.Client
) -> None:
    name = f"boss_{suffix()}"
    # As an operator does (`make admin`); in a thread, since Playwright's sync API holds
    # this one's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(create_admin, shop, name, "admin-pass-1").result()
    page = new_page()
    page.goto("/#/login")
    page.locator(tid("login-username")).fill(name)
    page.locator(tid("login-password")).fill("admin-pass-1")
    page.locator(tid("login-button")).click()
    page.locator(tid("nav-admin")).click()

    page.locator(tid("new-product-name")).fill("Kettle")
    page.locator(tid("new-product-description")).fill("Boils water, fast.")
    page.locator(tid("new-product-form-submit")).click()
    page.locator(f"{tid('new-product-form-result')}[data-outcome=ok]").wait_for()
    product_id = page.locator(tid("created-product-id")).inner_text().strip()

    page.locator(tid("new-deal-product")).fill(product_id)
    page.locator(tid("new-deal-price")).fill("12.34")
    page.locator(tid("new-deal-stock")).fill("5")
    page.locator(tid("new-deal-limit")).fill("2")
    page.locator(tid("new-deal-form-submit")).click()  # the form's own start and end
    page.locator(f"{tid('new-deal-form-result')}[data-outcome=ok]").wait_for()
    deal_id = page.locator(tid("created-deal-id")).inner_text().strip()
    shot(page, "8-admin-created")

    made = admin_api.get(f"/api/deals/{deal_id}").json()
    assert (made["product"]["name"], made["price_cents"], made["stock"]) == ("Kettle", 1234, 5)
    assert made["per_user_limit"] == 2 and made["status"] == "upcoming", made

    page.locator(tid("created-deal-stats-link")).click()
    page.locator(tid("stats-totals")).wait_for()
    assert "5" in page.locator(tid("stats-totals")).inner_text()
    shot(page, "9-admin-stats")
