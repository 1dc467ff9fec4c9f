"""The connections one ingress replica holds, made from cluster/clients.py's factories.

Each is opened lazily and replaced after a failure, so a replica starts (and can report
"mysql down") while a service is down, and recovers when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiomysql
import pymysql
import redis.asyncio as aioredis
from aiokafka.client import AIOKafkaClient

from actors.adapters.breakers import MYSQL_AWAY
from cluster import clients
from cluster.settings import Settings


class Backends:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis: aioredis.Redis = clients.redis_client(settings)
        self._mysql: aiomysql.Pool | None = None
        self._mysql_lock = asyncio.Lock()

    async def mysql(self) -> aiomysql.Pool:
        async with self._mysql_lock:
            if self._mysql is None:
                self._mysql = await asyncio.wait_for(
                    clients.mysql_pool(self.settings), self.settings.call_timeout_s
                )
            return self._mysql

    async def reset_mysql(self) -> None:
        async with self._mysql_lock:
            pool, self._mysql = self._mysql, None
        if pool is not None:
            pool.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.wait_closed(), 1)

    async def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.wait_for(
            self._sql(sql, args, fetch=True), self.settings.call_timeout_s
        )

    async def execute(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        await asyncio.wait_for(self._sql(sql, args, fetch=False), self.settings.call_timeout_s)

    async def _sql(self, sql: str, args: tuple[Any, ...], *, fetch: bool) -> list[tuple[Any, ...]]:
        pool = await self.mysql()
        try:
            async with pool.acquire() as conn:
                try:
                    async with conn.cursor() as cur:
                        await cur.execute(sql, args)
                        rows = list(await cur.fetchall()) if fetch else []
                    await conn.commit()
                    return rows
                except Exception:
                    # A refused statement (a duplicate key) leaves its transaction open:
                    # ended here, the connection goes back to the pool fit for reuse.
                    # (Cut off by the timeout, aiomysql closes it itself.)
                    with contextlib.suppress(Exception):  # a dead one cannot roll back
                        await conn.rollback()
                    raise
        except pymysql.err.OperationalError as exc:
            if not exc.args or exc.args[0] in MYSQL_AWAY:
                # The server went away: the pool's other connections are dead too.
                await self.reset_mysql()
            raise

    async def kafka_metadata(self) -> set[str]:
        """Topics the cluster reports; raises if no broker answers."""
        client = AIOKafkaClient(
            bootstrap_servers=self.settings.kafka_bootstrap,
            request_timeout_ms=int(self.settings.call_timeout_s * 1000),
        )
        try:
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
            return set(metadata.topics())
        finally:
            await client.close()

    async def close(self) -> None:
        await self.reset_mysql()
        await self.redis.aclose()
