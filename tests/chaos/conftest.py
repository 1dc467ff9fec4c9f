"""Fault drills: the stack redeployed with drill settings (a short payment window and a
small outbox bound, both through the settings as an operator would set them), restored
to the session's settings afterwards. The package runs last (pyproject's testpaths)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from cluster.local import stack as local_stack
from cluster.settings import Settings
from tests.e2e.conftest import _retire_test_deals, admin_token, api  # noqa: F401 -- shared fixtures

pytestmark = pytest.mark.chaos

DRILL_SETTINGS = {"payment_timeout_s": 20.0, "outbox_max": 200}


@pytest.fixture(scope="package")
def drill(stack: Settings) -> Iterator[Settings]:
    # A copy, so that which services are external (``given``) stays as it is.
    changed = stack.model_copy(update=DRILL_SETTINGS)
    local_stack.up(changed)
    yield changed
    local_stack.up(stack)


@contextlib.asynccontextmanager
async def payment_window(drill: Settings, seconds: float) -> AsyncIterator[Settings]:
    """The stack with this payment window for one drill (redeployed only when it differs
    from the drill's), as an operator sets FLASHSALE_PAYMENT_TIMEOUT_S."""
    if seconds == drill.payment_timeout_s:
        yield drill
        return
    changed = drill.model_copy(update={"payment_timeout_s": float(seconds)})
    await asyncio.to_thread(local_stack.up, changed)
    try:
        yield changed
    finally:
        await asyncio.to_thread(local_stack.up, drill)


async def audit(settings: Settings, deal_id: str, wait_s: float = 90) -> str:
    """`flashsale audit` for one deal, as an operator runs it; its output, asserted clean."""
    env = {**os.environ, **settings.to_env()}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ops.cli", "audit", "--deal", deal_id, "--wait", str(wait_s)],
        env=env,
        capture_output=True,
        text=True,
        timeout=wait_s + 120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("I1", "I2", "I3", "I4", "I5"):
        assert f"{name} ok (1 deals)" in done.stdout, done.stdout
    return done.stdout


# Drills that replace Ray or the whole stack go last, so that what they leave behind (a
# consumer group that waits out its dead members, fresh actors) meets no other drill.
_STACK_REPLACED = ("test_node_killed.py", "test_restart_mid_sale.py", "test_rival_cluster.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name in _STACK_REPLACED)
