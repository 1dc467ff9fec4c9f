"""Fixtures shared by the layers that use the real stack (integration, e2e, chaos).

One set of services and one Ray instance per test session: the first test that needs
them runs the same bring-up as ``make up`` (quick when it is already up) and every
test after that shares it, isolated by its own keys, topics and rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cluster.settings import Settings


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    from cluster.local import stack as local_stack
    from cluster.local.env import load_settings

    settings = load_settings(dict(os.environ))
    local_stack.up(settings)
    yield settings


@pytest.fixture
def ray_driver(stack: Settings) -> Iterator[None]:
    """This test process as a driver of the stack's Ray cluster: connected once, and
    again after a test that restarted the cluster (and disconnected first)."""
    from cluster.clients import ray_connect

    ray_connect(stack)
    yield
