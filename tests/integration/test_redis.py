"""Redis keeps what it acknowledged across a restart, even a crash (AOF)."""

import asyncio
import time

import pytest
import redis.exceptions

from actors.adapters.breakers import is_outage
from cluster.clients import redis_client
from cluster.settings import Settings
from tests.integration.conftest import owned
from tests.random_refs import key


@pytest.mark.timeout(120)
async def test_acknowledged_write_survives_a_killed_redis(stack: Settings) -> None:
    redis_server = owned(stack, "redis")
    name = key("checkpoint")
    client = redis_client(stack)
    try:
        await client.hset(name, mapping={"available": 7, "held": 2, "sold": 1})
        pid_before = redis_server.pid()
        redis_server.stop(kill=True)  # SIGKILL: no chance to flush on the way out
        assert not redis_server.healthy()
        redis_server.start()
        assert redis_server.pid() != pid_before
        await client.aclose()
        client = redis_client(stack)
        assert await client.hgetall(name) == {b"available": b"7", b"held": b"2", b"sold": b"1"}
    finally:
        redis_server.start()
        await client.delete(name)
        await client.aclose()


@pytest.mark.timeout(60)
async def test_a_full_connection_pool_waits_then_fails_as_overload_not_as_redis_away(
    stack: Settings,
) -> None:
    """Past its connections a client waits (half the call timeout) for one to free, and
    then raises what the breakers read as this process's load: a burst of payments in
    one replica once opened its Redis breaker with Redis well (cluster/clients.py)."""
    client = redis_client(stack.model_copy(update={"redis_max_connections": 1}))
    name = key("pool")
    try:
        # Holds the one connection for longer than the wait, shorter than a read times out.
        holder = asyncio.create_task(client.blpop([name], timeout=stack.call_timeout_s * 0.9))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(redis.exceptions.MaxConnectionsError) as caught:
            await client.ping()
        waited = time.monotonic() - started
        assert stack.call_timeout_s / 2 - 0.2 <= waited < stack.call_timeout_s, waited
        assert not is_outage(caught.value)
        assert await holder is None  # BLPOP ran out: the connection is free again
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.timeout(60)
async def test_a_call_waiting_for_a_connection_gets_the_one_released(stack: Settings) -> None:
    client = redis_client(stack.model_copy(update={"redis_max_connections": 1}))
    name = key("pool")
    try:
        holder = asyncio.create_task(client.blpop([name], timeout=0.3))
        await asyncio.sleep(0.05)
        assert await asyncio.gather(client.ping(), client.ping()) == [True, True]
        assert await holder is None
    finally:
        await client.aclose()
