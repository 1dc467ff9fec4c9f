"""Baseline: the naive MySQL purchase, one transaction per request.

    python -m bench.baselines.naive_mysql --port 8101     # MYSQL_DSN, FLASHSALE_JWT_SECRET

What every "how to build a flash sale" article starts with, written properly: an
aiomysql pool of 32 connections (64 concurrent requests: half wait for a connection
rather than for the row lock inside MySQL), and per purchase, in ONE InnoDB transaction::

    SELECT stock, per_user_limit FROM bench_deals WHERE deal_id = ? FOR UPDATE
    SELECT COALESCE(SUM(quantity), 0) FROM bench_orders WHERE deal_id = ? AND user_id = ?
    UPDATE bench_deals SET stock = stock - ? WHERE deal_id = ?
    INSERT INTO bench_orders (order_id, deal_id, user_id, quantity, created_at) ...
    COMMIT

The row lock serializes a deal's purchases, so it never oversells and holds each buyer
to the limit. Its tables live in a database of their own, ``flashsale_bench``, created
when missing (``setup_deal``), beside the DSN's database and never touching it.

What it does NOT do that flashsale does:

- Keep MySQL out of the burst: every request, sold out or not, is a round trip to the
  one deal row's lock; the deal's purchases run one at a time on that lock, at the
  speed of MySQL's lock hand-over (plus the commit's redo write, fsynced with
  MariaDB's default ``innodb_flush_log_at_trx_commit=1``). No in-memory sold-out flag.
- Shard anything: one row per deal, one database, one process.
- Idempotency: the ``Idempotency-Key`` is checked for form and then ignored; a retried
  request is a second order.
- Deadlines and breakers: only the connect timeout; a query waits on a hung MySQL or a
  lock for as long as the client does (no call timeout, no circuit breaker, no
  ``Retry-After`` beyond a fixed 1 on a connection error).
- An order pipeline: the order row is the whole story. No events, no Kafka, no payment
  window, no cancel of unpaid orders (stock once taken never comes back), no audit.
- A deal's window (starts/ends), rate limits, a request body limit, more than one
  replica: a dead MySQL or this one process dead means nothing sells.

Durability, on the other hand, it has: 201 comes after InnoDB's commit.
"""

from __future__ import annotations

import logging
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import aiomysql
import pymysql

from bench.baselines.common import Refusal, main
from cluster.clients import mysql_connect, mysql_pool
from cluster.settings import Settings

logger = logging.getLogger("bench.naive_mysql")
DATABASE = "flashsale_bench"
POOL_SIZE = 32
SCHEMA = (
    f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4",
    f"""CREATE TABLE IF NOT EXISTS {DATABASE}.bench_deals (
        deal_id VARCHAR(36) NOT NULL PRIMARY KEY,
        stock INT NOT NULL,
        per_user_limit INT NOT NULL
    ) ENGINE=InnoDB""",
    f"""CREATE TABLE IF NOT EXISTS {DATABASE}.bench_orders (
        order_id CHAR(32) NOT NULL PRIMARY KEY,
        deal_id VARCHAR(36) NOT NULL,
        user_id VARCHAR(64) NOT NULL,
        quantity INT NOT NULL,
        created_at DATETIME(6) NOT NULL,
        KEY deal_user (deal_id, user_id)
    ) ENGINE=InnoDB""",
)
# Driver faults that mean "MySQL is away or gave up on us" (a deadlock or lock wait
# timeout is an OperationalError too): 503, retry.
UNAVAILABLE = (pymysql.err.OperationalError, pymysql.err.InterfaceError, TimeoutError)


def bench_settings(settings: Settings) -> Settings:
    """The same MySQL server and user, the baseline's own database."""
    dsn = urlsplit(settings.mysql_dsn)._replace(path=f"/{DATABASE}")
    return settings.model_copy(update={"mysql_dsn": urlunsplit(dsn)})


class NaiveMysql:
    def __init__(self, settings: Settings) -> None:
        self._settings = bench_settings(settings)
        self._pool: aiomysql.Pool | None = None

    async def start(self) -> None:
        self._pool = await mysql_pool(self._settings, maxsize=POOL_SIZE)

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    async def purchase(self, deal_id: str, user_id: str, quantity: int) -> str | Refusal:
        assert self._pool is not None, "start() first"
        try:
            async with self._pool.acquire() as conn:
                outcome = await self._transaction(conn, deal_id, user_id, quantity)
                if isinstance(outcome, Refusal):
                    await conn.rollback()
                else:
                    await conn.commit()
                return outcome
        except UNAVAILABLE as exc:
            # The pool closes a connection given back mid-transaction.
            logger.warning("purchase failed: %r", exc)
            return Refusal.UNAVAILABLE

    @staticmethod
    async def _transaction(
        conn: aiomysql.Connection, deal_id: str, user_id: str, quantity: int
    ) -> str | Refusal:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT stock, per_user_limit FROM bench_deals WHERE deal_id = %s FOR UPDATE",
                (deal_id,),
            )
            row = await cur.fetchone()
            if row is None:
                return Refusal.UNKNOWN_DEAL
            stock, limit = row
            # Read after the lock: every earlier purchase of this deal has committed.
            await cur.execute(
                "SELECT COALESCE(SUM(quantity), 0) FROM bench_orders"
                " WHERE deal_id = %s AND user_id = %s",
                (deal_id, user_id),
            )
            (bought,) = await cur.fetchone()
            if int(bought) + quantity > limit:
                return Refusal.LIMIT_EXCEEDED
            if stock < quantity:
                return Refusal.SOLD_OUT
            await cur.execute(
                "UPDATE bench_deals SET stock = stock - %s WHERE deal_id = %s",
                (quantity, deal_id),
            )
            order_id = uuid.uuid4().hex
            await cur.execute(
                "INSERT INTO bench_orders (order_id, deal_id, user_id, quantity, created_at)"
                " VALUES (%s, %s, %s, %s, NOW(6))",
                (order_id, deal_id, user_id, quantity),
            )
            return order_id


# The benchmark's and the tests' helpers: blocking, outside the request path.


def _connect(settings: Settings) -> pymysql.Connection:
    # database="": no default database (pymysql sends none), so the first run can create ours.
    return mysql_connect(settings, database="")


def setup_deal(settings: Settings, deal_id: str, stock: int, per_user_limit: int) -> None:
    """Create the schema if missing, and put ``deal_id`` on sale afresh: ``stock`` units,
    ``per_user_limit`` per buyer, no orders."""
    with _connect(settings) as conn, conn.cursor() as cur:
        for statement in SCHEMA:
            cur.execute(statement)
        cur.execute(f"DELETE FROM {DATABASE}.bench_orders WHERE deal_id = %s", (deal_id,))
        cur.execute(
            f"REPLACE INTO {DATABASE}.bench_deals (deal_id, stock, per_user_limit)"
            " VALUES (%s, %s, %s)",
            (deal_id, stock, per_user_limit),
        )


def sold(settings: Settings, deal_id: str) -> int:
    """Units in the deal's orders."""
    with _connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT COALESCE(SUM(quantity), 0) FROM {DATABASE}.bench_orders WHERE deal_id = %s",
            (deal_id,),
        )
        return int(cur.fetchone()[0])


def orders(settings: Settings, deal_id: str) -> int:
    with _connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {DATABASE}.bench_orders WHERE deal_id = %s", (deal_id,))
        return int(cur.fetchone()[0])


def stock_left(settings: Settings, deal_id: str) -> int:
    with _connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT stock FROM {DATABASE}.bench_deals WHERE deal_id = %s", (deal_id,))
        return int(cur.fetchone()[0])


def delete_deal(settings: Settings, deal_id: str) -> None:
    with _connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {DATABASE}.bench_orders WHERE deal_id = %s", (deal_id,))
        cur.execute(f"DELETE FROM {DATABASE}.bench_deals WHERE deal_id = %s", (deal_id,))


def bought_by_buyer(settings: Settings, deal_id: str) -> dict[str, int]:
    """Units per buyer, for the limit check."""
    with _connect(settings) as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT user_id, SUM(quantity) FROM {DATABASE}.bench_orders"
            " WHERE deal_id = %s GROUP BY user_id",
            (deal_id,),
        )
        return {user: int(units) for user, units in cur.fetchall()}


if __name__ == "__main__":
    sys.exit(main(__doc__ or "", NaiveMysql, sys.argv[1:]))
