"""The storefront in a real browser: Playwright driving Debian's Chromium (installed by
``make up``, cluster/local/installs.py; Playwright's own browser download cannot reach
its host here). The stack runs with a 30 s payment window for this package, so that an
unpaid order visibly expires while the test watches; the session's settings come back
afterwards. Screenshots of each step go to test-output/browser/ (not committed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.local import stack as local_stack
from cluster.settings import Settings

pytestmark = pytest.mark.browser

PAYMENT_WINDOW_S = 30.0
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "browser"
# Chromium logs every non-2xx fetch this way; the page answers 409/410/503 on purpose.
EXPECTED_CONSOLE = ("Failed to load resource",)


def chromium_path() -> str:
    found = os.environ.get("FLASHSALE_CHROMIUM") or shutil.which("chromium")
    assert found, "chromium is missing: `make up` installs Debian's chromium package"
    return found


@pytest.fixture(scope="package")
def shop(stack: Settings) -> Iterator[Settings]:
    changed = stack.model_copy(update={"payment_timeout_s": PAYMENT_WINDOW_S})
    local_stack.up(changed)
    yield changed
    local_stack.up(stack)


@pytest.fixture(scope="package")
def browser(shop: Settings) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            # No sandbox: CI runs as root, where Chromium refuses its sandbox.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


class Console:
    """What the page wrote to its console: a test ends with no unexpected error."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page) -> None:
        page.on(
            "console",
            lambda message: message.type == "error" and self.errors.append(message.text),
        )
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not e.startswith(EXPECTED_CONSOLE)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def new_page(browser, shop: Settings, console: Console):
    """A fresh browser profile (its own localStorage) per call: one per buyer."""
    contexts = []

    def make(**options):
        context = browser.new_context(base_url=f"http://127.0.0.1:{shop.http_port}", **options)
        contexts.append(context)
        page = context.new_page()
        console.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert console.unexpected() == [], console.unexpected()


def shot(page, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
