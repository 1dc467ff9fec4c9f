"""Orders into MySQL: one transaction per batch, statements that a replay cannot change.

Every event carries the whole order, so each is an upsert. A status only moves forward:
`reserved` never overwrites `paid` or `cancelled` (a replayed or late `created`), and the
first `paid_at` / `cancelled_at` stays.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql

from actors.adapters.breakers import MYSQL, guarded
from actors.domain.events import ORDER_FIELDS, TIME_FIELDS

_INSERT = f"INSERT INTO orders ({', '.join(ORDER_FIELDS)}) VALUES "
_ON_DUPLICATE = (
    " ON DUPLICATE KEY UPDATE"
    " status = IF(VALUES(status) = 'reserved', status, VALUES(status)),"
    " paid_at = COALESCE(paid_at, VALUES(paid_at)),"
    " cancelled_at = COALESCE(cancelled_at, VALUES(cancelled_at))"
)
_INT_FIELDS = frozenset(("quantity", "amount_cents"))
# Rows per statement: a few hundred bytes each, far below max_allowed_packet.
_ROWS_PER_STATEMENT = 1000


def _time(ts: float | None) -> str:
    # Epoch seconds to DATETIME(6) in UTC by arithmetic, whatever the session's time
    # zone (FROM_UNIXTIME would read it in the session's).
    if ts is None:
        return "NULL"
    return f"TIMESTAMPADD(MICROSECOND,{round(float(ts) * 1_000_000)},'1970-01-01')"


def _int(n: int) -> str:
    return str(int(n))


def values_sql(events: list[dict[str, Any]], quote: Callable[[str], str]) -> str:
    """The rows of a multi-row INSERT, formatted here rather than by the driver: its
    per-value escaping (a type dispatch per field, datetimes formatted in Python) was
    most of the sink's CPU per event. ``quote``: the connection's string escaping."""

    def text(v: str) -> str:
        if not isinstance(v, str):
            raise TypeError(f"expected a string, got {v!r:.80}")
        return "'" + quote(v) + "'"

    columns = [
        (f, _time if f in TIME_FIELDS else _int if f in _INT_FIELDS else text) for f in ORDER_FIELDS
    ]
    return ",".join("(" + ",".join(fmt(e[f]) for f, fmt in columns) + ")" for e in events)


@guarded(MYSQL)
class MysqlOrderStore:
    def __init__(
        self, connect: Callable[[], Awaitable[aiomysql.Pool]], timeout_s: float = 10.0
    ) -> None:
        """``connect`` opens the pool on ``start``; ``stop`` (idempotent) closes it.
        ``timeout_s`` bounds one batch's transaction: a hung server (not a stopped
        one) would otherwise hold the sink forever, since the driver has no read
        timeout, and its breaker would never learn."""
        self._connect = connect
        self._timeout_s = timeout_s
        self._pool: aiomysql.Pool | None = None

    async def start(self) -> None:
        self._pool = await self._connect()

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            with contextlib.suppress(Exception):
                await pool.wait_closed()

    async def __aenter__(self) -> MysqlOrderStore:
        await self.start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.stop()

    async def apply(self, events: list[dict[str, Any]]) -> None:
        if self._pool is None:
            raise RuntimeError("the order store is not started")
        # The bound covers taking a connection too: a new one to a hung server waits
        # for its greeting with no timeout of the driver's own.
        async with asyncio.timeout(self._timeout_s), self._pool.acquire() as conn:
            try:
                async with conn.cursor() as cur:
                    # Rows in event order: one order's later event updates its earlier one.
                    for at in range(0, len(events), _ROWS_PER_STATEMENT):
                        chunk = events[at : at + _ROWS_PER_STATEMENT]
                        rows = values_sql(chunk, conn.escape_string)
                        await cur.execute(_INSERT + rows + _ON_DUPLICATE)
                await conn.commit()
            except asyncio.CancelledError:
                # Cut off mid-statement (the bound, or the sink stopping): the
                # connection's state is unknown, so it is closed (the pool drops it)
                # rather than rolled back and reused.
                conn.close()
                raise
            except BaseException:
                with contextlib.suppress(Exception):  # a dead connection cannot roll back
                    await conn.rollback()
                raise
