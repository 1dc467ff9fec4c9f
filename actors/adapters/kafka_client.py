"""The lifecycle the Kafka adapters share: a bounded ``start``, an idempotent ``stop``
that never waits long nor raises, and ``async with``.

A hung broker (sockets accept, nothing answers) would otherwise hold a starting or
stopping client for aiokafka's whole request timeout, or for ever while it flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Self


class KafkaClientLifecycle:
    def __init__(self, client: Any, timeout_s: float) -> None:
        """``client``: an aiokafka producer or consumer, not started."""
        self._client = client
        self._timeout_s = timeout_s
        self._started = False

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.start()
        except BaseException:
            await self._close()  # aiokafka's start may fail half way, leaving connections
            raise
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._close()

    async def _close(self) -> None:
        # A broker that is away (or hung) cannot say goodbye; do not wait for it.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._timeout_s):
                await self._client.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.stop()
