"""The shop's records in MySQL: products, deals and accounts (orders: mysql_store.py).

Every statement goes through ``Sql`` (the replica's pool, with its timeout and its
reset after a lost server), so this module alone knows the tables' columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import pymysql

from actors.adapters.breakers import MYSQL, guarded
from actors.domain.deals import Deal, Product

_DUPLICATE_KEY = 1062


class Sql(Protocol):
    async def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None: ...


def _naive_utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


def _deal(d: tuple[Any, ...]) -> Deal:
    return Deal(
        deal_id=d[0],
        product=Product(d[7], d[8], d[9], d[10]),
        price_cents=int(d[1]),
        stock=int(d[2]),
        per_user_limit=int(d[3]),
        starts_ts=_epoch(d[4]),
        ends_ts=_epoch(d[5]),
        shards=int(d[6]),
    )


@guarded(MYSQL)
class MysqlCatalog:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def insert_product(self, product: Product) -> None:
        await self._sql.execute(
            "INSERT INTO products (product_id, name, description, image_url) VALUES (%s, %s, %s, %s)",
            (product.product_id, product.name, product.description, product.image_url),
        )

    async def product(self, product_id: str) -> Product | None:
        rows = await self._sql.query(
            "SELECT product_id, name, description, image_url FROM products WHERE product_id = %s",
            (product_id,),
        )
        return Product(*rows[0]) if rows else None

    async def insert_deal(self, deal: Deal) -> None:
        await self._sql.execute(
            "INSERT INTO deals (deal_id, product_id, price_cents, stock, per_user_limit,"
            " starts_at, ends_at, shards) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                deal.deal_id,
                deal.product.product_id,
                deal.price_cents,
                deal.stock,
                deal.per_user_limit,
                _naive_utc(deal.starts_ts),
                _naive_utc(deal.ends_ts),
                deal.shards,
            ),
        )

    async def deal(self, deal_id: str) -> Deal | None:
        rows = await self._sql.query(
            "SELECT d.deal_id, d.price_cents, d.stock, d.per_user_limit, d.starts_at, d.ends_at,"
            " d.shards, p.product_id, p.name, p.description, p.image_url"
            " FROM deals d JOIN products p ON p.product_id = d.product_id WHERE d.deal_id = %s",
            (deal_id,),
        )
        return _deal(rows[0]) if rows else None

    async def deals_not_ended(self, now_ts: float) -> list[Deal]:
        """The deals that end after ``now_ts``, soonest end first."""
        rows = await self._sql.query(
            "SELECT d.deal_id, d.price_cents, d.stock, d.per_user_limit, d.starts_at, d.ends_at,"
            " d.shards, p.product_id, p.name, p.description, p.image_url"
            " FROM deals d JOIN products p ON p.product_id = d.product_id"
            " WHERE d.ends_at > %s ORDER BY d.ends_at",
            (_naive_utc(now_ts),),
        )
        return [_deal(d) for d in rows]

    async def insert_user(self, user_id: str, username: str, password_hash: str, role: str) -> bool:
        """False when the username is taken."""
        try:
            await self._sql.execute(
                "INSERT INTO users (user_id, username, password_hash, role) VALUES (%s, %s, %s, %s)",
                (user_id, username, password_hash, role),
            )
        except pymysql.err.IntegrityError as exc:
            if exc.args and exc.args[0] == _DUPLICATE_KEY:
                return False
            raise
        return True

    async def make_admin(self, user_id: str, username: str, password_hash: str) -> str:
        """Create the admin, or make an existing user an admin with this password;
        returns the user's id (``user_id`` only if the user is new)."""
        await self._sql.execute(
            "INSERT INTO users (user_id, username, password_hash, role) VALUES (%s, %s, %s, 'admin')"
            " ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), role = 'admin'",
            (user_id, username, password_hash),
        )
        found = await self.user(username)
        if found is None:
            raise LookupError(f"the admin {username!r} vanished as it was made")
        return found[0]

    async def user(self, username: str) -> tuple[str, str, str] | None:
        """(user_id, password_hash, role) of the user, or None."""
        rows = await self._sql.query(
            "SELECT user_id, password_hash, role FROM users WHERE username = %s", (username,)
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None
