"""The one loop that keeps a background service running inside its actor.

The relay, the sink and the clock each run for the life of their actor: open what the
work needs (a session), run its step at a pace, and after a failure back off (doubling
up to a cap) and go on, recording what failed for ``stats``. Written once here so that
the three cannot drift apart, and so that a breaker or a metric added to it reaches all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

# A step returns True when more work is waiting (run the next one at once) and False
# when it is caught up (wait out the rest of the pace).
Step = Callable[[], Awaitable[bool]]
Session = Callable[[], AbstractAsyncContextManager[Step]]


class Supervisor:
    def __init__(self, name: str, pace_s: float, max_backoff_s: float) -> None:
        self._log = logging.getLogger(f"flashsale.{name}")
        self._pace_s = pace_s
        self._max_backoff_s = max_backoff_s
        self._backoff_s = pace_s
        self.last_error = ""
        self.last_step = 0.0  # time.time() of the last step that succeeded
        self.failures = 0

    async def run(self, session: Session, *, keep_session: bool) -> None:
        """Forever. ``keep_session``: a failed step is retried in the same session (the
        sink keeps its consumer and its pending batch while MySQL is away); otherwise
        the session is closed and opened afresh (the relay's producer)."""
        while True:
            try:
                async with session() as step:
                    while True:
                        started = time.monotonic()
                        try:
                            busy = await step()
                        except Exception as exc:
                            if not keep_session:
                                raise
                            await self._back_off(exc)
                            continue
                        self.last_step = time.time()
                        self._backoff_s = self._pace_s
                        if not busy:
                            await asyncio.sleep(
                                max(0.0, self._pace_s - (time.monotonic() - started))
                            )
            except Exception as exc:  # noqa: BLE001 -- a part is away: back off, open afresh
                await self._back_off(exc)

    async def _back_off(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._log.warning("step failed (%s); again in %.2fs", self.last_error, self._backoff_s)
        await asyncio.sleep(self._backoff_s)
        self._backoff_s = min(self._backoff_s * 2, self._max_backoff_s)

    def stats(self) -> dict[str, Any]:
        return {
            "last_error": self.last_error,
            "last_step": self.last_step,
            "failures": self.failures,
        }
