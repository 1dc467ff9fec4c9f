"""Migrations against the real MariaDB, in a scratch database of the test's own."""

import pymysql
import pytest

from cluster.clients import mysql_connect
from cluster.migrate import apply_migrations, migrations
from cluster.settings import Settings
from tests.random_refs import suffix

EXPECTED_COLUMNS = {
    "products": {"product_id", "name", "description", "image_url", "created_at"},
    "deals": {
        "deal_id",
        "product_id",
        "price_cents",
        "stock",
        "per_user_limit",
        "starts_at",
        "ends_at",
        "created_at",
    },
    "orders": {
        "order_id",
        "deal_id",
        "user_id",
        "quantity",
        "amount_cents",
        "status",
        "created_at",
        "pay_by",
        "paid_at",
        "cancelled_at",
    },
    "users": {"user_id", "username", "password_hash", "created_at"},
}


def connect(settings: Settings, database: str | None = None) -> pymysql.Connection:
    return mysql_connect(settings, database=database or "")


@pytest.fixture
def scratch_db(stack: Settings):
    name = f"flashsale_test_{suffix()}"
    conn = connect(stack)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    conn.close()


def test_migrations_build_the_record_and_run_once(stack: Settings, scratch_db: str) -> None:
    applied = apply_migrations(stack, database=scratch_db)
    assert applied == [v for v, _ in migrations()]
    assert apply_migrations(stack, database=scratch_db) == []

    conn = connect(stack, scratch_db)
    with conn.cursor() as cur:
        for table, columns in EXPECTED_COLUMNS.items():
            cur.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s",
                (scratch_db, table),
            )
            assert columns <= {row[0] for row in cur.fetchall()}, table
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == applied
        # The schema itself refuses a deal that ends before it starts.
        cur.execute("INSERT INTO products (product_id, name, description) VALUES ('p1', 'n', 'd')")
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute(
                "INSERT INTO deals (deal_id, product_id, price_cents, stock, per_user_limit,"
                " starts_at, ends_at) VALUES ('d1', 'p1', 100, 5, 1, '2030-01-02', '2030-01-01')"
            )
    conn.close()


def test_the_live_database_is_migrated(stack: Settings) -> None:
    conn = connect(stack, stack.mysql().database)
    with conn.cursor() as cur:
        cur.execute("SELECT MAX(version) FROM schema_migrations")
        assert cur.fetchone()[0] == migrations()[-1][0]
    conn.close()
