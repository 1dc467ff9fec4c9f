"""The record as the audit reads it: every deal's numbers and every order's row.

Each read ends its transaction: under REPEATABLE READ a pooled connection would
otherwise show every retry of the audit the same old snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiomysql

from actors.adapters.breakers import MYSQL, guarded
from actors.domain.audit import OrderRow


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.replace(tzinfo=UTC).timestamp()


@guarded(MYSQL)
class MysqlAuditReader:
    def __init__(self, pool: aiomysql.Pool) -> None:
        self._pool = pool

    async def _select(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(sql, params)
            rows = list(await cur.fetchall())
            await conn.commit()
            return rows

    async def deals(self, only: list[str] | None) -> list[tuple[str, int, int, int]]:
        """(deal id, stock, per-user limit, shards) of every deal, or of ``only``."""
        sql = "SELECT deal_id, stock, per_user_limit, shards FROM deals"
        params: tuple[Any, ...] = ()
        if only:
            sql += f" WHERE deal_id IN ({', '.join(['%s'] * len(only))})"
            params = tuple(only)
        rows = await self._select(sql + " ORDER BY created_at", params)
        return [(d, int(s), int(limit), int(n)) for d, s, limit, n in rows]

    async def orders(self, deal_id: str) -> list[OrderRow]:
        rows = await self._select(
            "SELECT order_id, user_id, quantity, status, pay_by, paid_at, cancelled_at"
            " FROM orders WHERE deal_id = %s",
            (deal_id,),
        )
        return [
            OrderRow(o, u, int(q), s, _ts(pb) or 0.0, _ts(pa), _ts(ca))
            for o, u, q, s, pb, pa, ca in rows
        ]


def count_orders(conn: Any, deal_id: str) -> int:
    """The deal's rows in ``orders``, on a blocking (pymysql, autocommit) connection: the
    benchmark's once-a-second look at how far MySQL trails the shards."""
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders WHERE deal_id = %s", (deal_id,))
        return int(cur.fetchone()[0])
