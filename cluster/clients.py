"""One factory per service, each with timeouts. Callers own what they get: close it.

Nothing here retries or hides a failure; the adapters that use these clients decide
what a fault means (see ../docs/design.md, "Failure behaviour").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import aiomysql
import pymysql
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cluster.settings import Settings


def redis_client(settings: Settings, *, retries: int = 2) -> aioredis.Redis:
    """``retries`` re-sends a command after a connection error or timeout. Give 0 for
    writes that are not idempotent (the shard checkpoint moves pool units): a command
    whose reply was lost may have run, and running it twice would move them twice."""
    timeout = settings.call_timeout_s
    pool = WaitingConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=10,
        decode_responses=False,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        max_connections=settings.redis_max_connections,
        timeout=timeout / 2,
    )
    return aioredis.Redis.from_pool(pool)  # closing the client closes its pool


class WaitingConnectionPool(aioredis.ConnectionPool):
    """Past ``max_connections`` a call waits up to ``timeout`` for a connection to be
    released, then raises ``MaxConnectionsError``: this process's overload, which the
    breakers do not count as Redis away. redis-py's default pool raised it at once, and
    a replica's burst of payments then opened its Redis breaker with Redis perfectly
    well (the flash sale bench: 1,747 payments answered 503). Its BlockingConnectionPool
    waits too, but takes a lock and a condition on every command: ~30 us more of CPU per
    command here, on every checkpoint; this one costs nothing until the pool is full."""

    def __init__(self, *args: Any, timeout: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)
        except MaxConnectionsError:
            pass
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (remaining := deadline - loop.time()) > 0:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                with contextlib.suppress(ValueError):  # release() took it already
                    self._waiters.remove(waiter)
            try:
                return await super().get_connection(*args, **kwargs)
            except MaxConnectionsError:
                continue  # another caller took the released one first
        raise MaxConnectionsError(f"no Redis connection free within {self.timeout} s")

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


async def mysql_pool(settings: Settings, *, maxsize: int = 4) -> aiomysql.Pool:
    addr = settings.mysql()
    return await aiomysql.create_pool(
        host=addr.host,
        port=addr.port,
        user=addr.user,
        password=addr.password,
        db=addr.database,
        minsize=0,
        maxsize=maxsize,
        connect_timeout=settings.call_timeout_s,
        autocommit=False,
        charset="utf8mb4",
        # A connection idle this long is replaced rather than found dead mid-request.
        pool_recycle=300,
    )


def mysql_connect(settings: Settings, *, database: str | None = None) -> pymysql.Connection:
    """A blocking connection, for tools (migrations, the CLI), never for request paths.
    ``database``: another database than the settings' (None: the settings' own)."""
    addr = settings.mysql()
    return pymysql.connect(
        host=addr.host,
        port=addr.port,
        user=addr.user,
        password=addr.password,
        database=database if database is not None else addr.database,
        connect_timeout=int(max(1, settings.call_timeout_s * 5)),
        autocommit=True,
        charset="utf8mb4",
    )


def kafka_producer(settings: Settings, **overrides: object) -> AIOKafkaProducer:
    # Idempotent with acks=all: a retried send never duplicates an event in the log.
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "request_timeout_ms": int(settings.call_timeout_s * 1000) * 5,
        "linger_ms": 5,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def kafka_consumer(
    settings: Settings, *topics: str, group_id: str | None, **overrides: object
) -> AIOKafkaConsumer:
    # Offsets are committed by hand, after the batch is durable downstream.
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "request_timeout_ms": int(settings.call_timeout_s * 1000) * 20,
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def kafka_admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=int(settings.call_timeout_s * 1000) * 5,
    )


def ray_connect(settings: Settings) -> None:
    """Join the running Ray cluster as a driver in flashsale's namespace (tools and
    tests, never request paths: the CLI, the audit, the test drivers); a second call is
    a no-op."""
    import ray  # here, not above: most users of this module never need Ray

    from cluster import names

    if not ray.is_initialized():
        ray.init(
            address=settings.ray_address,
            namespace=names.NAMESPACE,
            log_to_driver=False,
            logging_level="error",
        )
