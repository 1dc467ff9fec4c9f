"""The order sink's loop: Kafka batches into MySQL, offsets committed only after.

No Ray here (actors/sink_actor.py wraps it). A batch that MySQL refuses stays pending
and is written again, whole, on the next step: its offsets are not committed before it
is durable, so a crash anywhere replays it and the idempotent writes absorb the copy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from actors.ports import EventSource, OrderStore


class OrderSinkLoop:
    def __init__(
        self,
        source: EventSource,
        store: OrderStore,
        max_records: int = 500,
        wait_ms: int = 200,
        between_commits: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
    ) -> None:
        """``between_commits``: awaited with the batch after MySQL committed it and
        before its offsets are; the fault drills hold the sink there to kill it."""
        self._source = source
        self._store = store
        self._max = max_records
        self._wait_ms = wait_ms
        self._pending: list[dict[str, Any]] | None = None
        self._between_commits = between_commits
        self.refused = 0  # events whose rows the store refused as data (logged there)
        self.settled = 0  # events of the last batch committed, written or refused

    async def step(self) -> int:
        """Fetch (unless a batch is pending), write, commit. Returns events written."""
        if self._pending is None:
            self._pending = await self._source.fetch(self._max, self._wait_ms)
        batch = self._pending
        written, refused = batch, []
        if batch:
            # Raises while MySQL is away: the batch stays pending. Rows it refuses as
            # data are settled (they could never be written) and counted once the
            # batch's offsets are committed (a failed commit applies it again).
            refused = await self._store.apply(batch)
            if refused:
                gone = {id(e) for e in refused}
                written = [e for e in batch if id(e) not in gone]
            if written and self._between_commits is not None:
                await self._between_commits(written)
        await self._source.commit()
        self._pending = None
        self.refused += len(refused)
        self.settled = len(batch)
        return len(written)
