"""Baseline: bare uvicorn and one Redis Lua script per purchase, the seckill tutorial.

    python -m bench.baselines.redis_lua --port 8102       # REDIS_URL, FLASHSALE_JWT_SECRET

As most "seckill with Redis" tutorials build it, written properly: a redis-py asyncio
client (hiredis parser when installed, a connection pool, the project's socket
timeouts), and per purchase one EVALSHA of a script that, atomically in Redis, checks
the buyer's limit (a hash buyer -> units bought), takes the stock if there is enough
(DECRBY), adds to the buyer's units and records the hold (order id -> buyer and
quantity). A deal's keys share a hash tag, so the script would run on one Redis Cluster
slot: ``bench:{<deal>}:stock``, ``:limit``, ``:bought``, ``:orders``. They live in Redis
database 3 of ``REDIS_URL``'s server, which flashsale does not use.

What it does NOT do that flashsale does:

- An order pipeline: the hold in the ``:orders`` hash is all there is. No outbox, no
  Kafka, nothing ever reaches MySQL (the record), no payment window, no cancel of unpaid
  holds (stock once taken never comes back), no audit.
- Durability of its own: a hold is as durable as the Redis server's configuration makes
  the script's writes (flashsale's local Redis has ``appendfsync always``, so here they
  are fsynced before the reply; on a default Redis, ``everysec``, a crash loses up to a
  second of sold units). No write-ahead checkpoint, no fencing of a stale writer.
- Idempotency: the ``Idempotency-Key`` is checked for form and then ignored; a retried
  request is a second hold.
- Deadlines and breakers: the client's socket timeout (``FLASHSALE_CALL_TIMEOUT_S``) and
  no retries (a script whose reply was lost may have run); a down Redis is a 503 per
  request after the connect timeout, no circuit breaker.
- Sharding: one deal is one key in one Redis, whose one core runs every purchase of the
  deal; one process in front of it. No batching of purchases per call.
- A deal's window (starts/ends), rate limits, a request body limit, more than one
  replica.
"""

from __future__ import annotations

import sys
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bench.baselines.common import Refusal, main
from cluster.clients import redis_client
from cluster.settings import Settings

DB = 3
# KEYS: stock, limit, bought (buyer -> units), orders (order id -> "buyer:units");
# ARGV: buyer, quantity, order id. Returns 1, or 0 unknown deal, -1 over the limit,
# -2 not enough stock.
PURCHASE = """
local stock = redis.call('GET', KEYS[1])
if not stock then return 0 end
local quantity = tonumber(ARGV[2])
local bought = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if bought + quantity > tonumber(redis.call('GET', KEYS[2])) then return -1 end
if tonumber(stock) < quantity then return -2 end
redis.call('DECRBY', KEYS[1], quantity)
redis.call('HINCRBY', KEYS[3], ARGV[1], quantity)
redis.call('HSET', KEYS[4], ARGV[3], ARGV[1] .. ':' .. ARGV[2])
return 1
"""
_REFUSALS = {0: Refusal.UNKNOWN_DEAL, -1: Refusal.LIMIT_EXCEEDED, -2: Refusal.SOLD_OUT}


def keys(deal_id: str) -> list[str]:
    return [f"bench:{{{deal_id}}}:{part}" for part in ("stock", "limit", "bought", "orders")]


def bench_url(url: str) -> str:
    """``url`` with database 3 (in the path, or ``?db=`` for a unix socket)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(DB))]
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{DB}"))


def bench_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"redis_url": bench_url(settings.redis_url)})


class RedisLua:
    def __init__(self, settings: Settings) -> None:
        self._settings = bench_settings(settings)
        self._redis: aioredis.Redis | None = None
        self._script: AsyncScript | None = None

    async def start(self) -> None:
        # retries=0: EVALSHA is not idempotent (a lost reply may hide a sale).
        self._redis = redis_client(self._settings, retries=0)
        # Script: EVALSHA, and SCRIPT LOAD once should Redis not know the script.
        self._script = self._redis.register_script(PURCHASE)
        await self._redis.script_load(PURCHASE)

    async def stop(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def purchase(self, deal_id: str, user_id: str, quantity: int) -> str | Refusal:
        assert self._script is not None, "start() first"
        order_id = uuid.uuid4().hex
        try:
            result = await self._script(keys=keys(deal_id), args=[user_id, quantity, order_id])
        except (RedisConnectionError, RedisTimeoutError):
            return Refusal.UNAVAILABLE
        return order_id if result == 1 else _REFUSALS[int(result)]


# The benchmark's and the tests' helpers: blocking, outside the request path.


def _connect(settings: Settings) -> redis.Redis:
    timeout = settings.call_timeout_s * 5
    return redis.Redis.from_url(
        bench_url(settings.redis_url), socket_timeout=timeout, socket_connect_timeout=timeout
    )


def setup_deal(settings: Settings, deal_id: str, stock: int, per_user_limit: int) -> None:
    """Put ``deal_id`` on sale afresh: ``stock`` units, ``per_user_limit`` per buyer,
    no holds."""
    stock_key, limit_key, bought_key, orders_key = keys(deal_id)
    with _connect(settings) as client, client.pipeline(transaction=True) as pipe:
        pipe.delete(bought_key, orders_key)
        pipe.set(limit_key, per_user_limit)
        pipe.set(stock_key, stock)
        pipe.execute()


def sold(settings: Settings, deal_id: str) -> int:
    """Units in the deal's holds."""
    with _connect(settings) as client:
        holds = client.hvals(keys(deal_id)[3])
    return sum(int(hold.rsplit(b":", 1)[1]) for hold in holds)


def orders(settings: Settings, deal_id: str) -> int:
    with _connect(settings) as client:
        return int(client.hlen(keys(deal_id)[3]))


def stock_left(settings: Settings, deal_id: str) -> int:
    with _connect(settings) as client:
        return int(client.get(keys(deal_id)[0]))


def bought_by_buyer(settings: Settings, deal_id: str) -> dict[str, int]:
    """Units per buyer, from the holds (not from the script's own ``:bought`` count)."""
    with _connect(settings) as client:
        holds = client.hvals(keys(deal_id)[3])
    found: dict[str, int] = {}
    for hold in holds:
        buyer, units = hold.decode().rsplit(":", 1)
        found[buyer] = found.get(buyer, 0) + int(units)
    return found


def delete_deal(settings: Settings, deal_id: str) -> None:
    with _connect(settings) as client:
        client.delete(*keys(deal_id))


if __name__ == "__main__":
    sys.exit(main(__doc__ or "", RedisLua, sys.argv[1:]))
