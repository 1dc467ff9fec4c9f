"""`flashsale audit` against the real Redis and MySQL: it names what is broken and exits
non-zero, and refuses a deal it does not know."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis as sync_redis

from actors.adapters import redis_keys as keys
from cluster.clients import mysql_connect
from cluster.settings import Settings


def audit(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", "audit", "--no-ray", "--wait", "0", *args],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def broken_deal(stack: Settings) -> Iterator[str]:
    """A deal of 5 whose Redis state holds 10: one unit sold twice, as far as I1 knows."""
    deal_id, product_id = str(uuid.uuid4()), str(uuid.uuid4())
    conn = mysql_connect(stack)
    r = sync_redis.Redis.from_url(stack.redis_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO products (product_id, name, description, image_url)"
                " VALUES (%s, 'audit test', '', '')",
                (product_id,),
            )
            cur.execute(
                "INSERT INTO deals (deal_id, product_id, price_cents, stock, per_user_limit,"
                " starts_at, ends_at, shards) VALUES (%s, %s, 100, 5, 1, NOW(), NOW() + INTERVAL 1 HOUR, 1)",
                (deal_id, product_id),
            )
        conn.commit()
        reservation = {
            "order_id": "o-1", "user_id": "u-1", "quantity": 1, "key": "k", "status": "reserved",
            "created_at": 1.0, "pay_by": 2.0, "paid_at": None, "cancelled_at": None,
        }  # fmt: skip
        r.set(keys.pool(deal_id), 5)
        r.hset(keys.counts(deal_id, 0), mapping={"stock": 5, "available": 4, "held": 1, "sold": 0})
        r.hset(keys.reservations(deal_id, 0), "o-1", json.dumps(reservation))
        yield deal_id
    finally:
        for key in r.scan_iter(match=f"fs:{{{deal_id}}}:*"):
            r.delete(key)
        with conn.cursor() as cur:
            cur.execute("DELETE FROM deals WHERE deal_id = %s", (deal_id,))
            cur.execute("DELETE FROM products WHERE product_id = %s", (product_id,))
        conn.commit()
        conn.close()
        r.close()


def test_a_broken_deal_fails_with_its_ids_named(stack: Settings, broken_deal: str) -> None:
    done = audit(stack, "--deal", broken_deal)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("I1 FAIL") and "pool 5 + shards 5 != stock 5" in line for line in lines
    )
    assert any(line.startswith("I3 FAIL") and "o-1" in line for line in lines)  # no MySQL row
    assert any(line.startswith("I4 FAIL") and "o-1" in line for line in lines)  # long overdue
    assert "I2 ok (1 deals)" in lines and "I5 ok (1 deals)" in lines


def test_an_unknown_deal_is_an_error_not_a_pass(stack: Settings) -> None:
    done = audit(stack, "--deal", "no-such-deal")
    assert done.returncode == 2
    assert "no such deal: no-such-deal" in done.stderr
