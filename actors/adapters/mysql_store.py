"""Orders into MySQL: one transaction per batch, statements that a replay cannot change.

Every event carries the whole order, so each is an upsert. A status only moves forward:
`reserved` never overwrites `paid` or `cancelled` (a replayed or late `created`), and the
first `paid_at` / `cancelled_at` stays.

A row that MySQL refuses as data (too long, out of range, a failed CHECK, a value of the
wrong kind) would be refused on every retry: the batch that carries it would stay
pending for good and every order behind it with it. So a batch refused that way is
written again one row at a time, and the rows refused are logged and handed back, not
written; the audit then names their orders as missing. An outage is not a refusal: the
batch stays pending, whole, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql
import pymysql

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
# MySQL's and MariaDB's errors for a row it will never take as it is: NOT NULL, no
# default, out of range, truncated, wrong value, too long, datetime overflow, CHECK.
# Deadlocks and lock waits are not here: they pass, and the batch is written again.
_ROW_REFUSED = frozenset({1048, 1263, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1441, 3819, 4025})
logger = logging.getLogger("flashsale.sink")


def refused_row(exc: BaseException) -> bool:
    """Is this the row's fault, so that writing it again can never succeed? A value of
    the wrong kind is refused here before MySQL sees it (``values_sql``), and text that
    is no Unicode (a lone surrogate) when the driver encodes the statement."""
    if isinstance(exc, BadValue | UnicodeEncodeError):
        return True
    return (
        isinstance(exc, pymysql.err.MySQLError) and bool(exc.args) and exc.args[0] in _ROW_REFUSED
    )


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
    try:
        return ",".join("(" + ",".join(fmt(e[f]) for f, fmt in columns) + ")" for e in events)
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. int(inf): overflow
        raise BadValue(str(exc)) from exc


class BadValue(ValueError):
    """A field of an event is not of the kind its column takes: no SQL was made."""


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

    async def apply(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write the events' orders in one transaction; returns the events whose rows
        MySQL refused as data (module docstring), which were not written."""
        if self._pool is None:
            raise RuntimeError("the order store is not started")
        # The bound covers taking a connection too: a new one to a hung server waits
        # for its greeting with no timeout of the driver's own.
        async with asyncio.timeout(self._timeout_s) as bound, self._pool.acquire() as conn:
            try:
                await self._transaction(conn, self._statements(conn, events))
                return []
            except Exception as exc:
                if not refused_row(exc):
                    raise
            # One row a statement, in one transaction: a refused statement is rolled back
            # alone (InnoDB's statement-level rollback) and the others stand. Up to a
            # batch's worth of round trips: each statement gets the bound anew, which
            # still catches a server that hangs.
            refused: list[dict[str, Any]] = []
            loop = asyncio.get_running_loop()

            async def rows(cur: Any) -> None:
                for event in events:
                    bound.reschedule(loop.time() + self._timeout_s)
                    try:
                        await cur.execute(
                            _INSERT + values_sql([event], conn.escape_string) + _ON_DUPLICATE
                        )
                    except Exception as exc:
                        if not refused_row(exc):
                            raise
                        refused.append(event)
                        logger.error(
                            "order %r: MySQL refused its row, not written: %s",
                            event.get("order_id"),
                            exc,
                        )

            await self._transaction(conn, rows)
            return refused

    @staticmethod
    def _statements(conn: Any, events: list[dict[str, Any]]) -> Callable[[Any], Awaitable[None]]:
        async def run(cur: Any) -> None:
            # Rows in event order: one order's later event updates its earlier one.
            for at in range(0, len(events), _ROWS_PER_STATEMENT):
                chunk = events[at : at + _ROWS_PER_STATEMENT]
                await cur.execute(_INSERT + values_sql(chunk, conn.escape_string) + _ON_DUPLICATE)

        return run

    @staticmethod
    async def _transaction(conn: Any, statements: Callable[[Any], Awaitable[None]]) -> None:
        try:
            async with conn.cursor() as cur:
                await statements(cur)
            await conn.commit()
        except asyncio.CancelledError:
            # Cut off mid-statement (the bound, or the sink stopping): the connection's
            # state is unknown, so it is closed (the pool drops it) rather than rolled
            # back and reused.
            conn.close()
            raise
        except BaseException:
            with contextlib.suppress(Exception):  # a dead connection cannot roll back
                await conn.rollback()
            raise
