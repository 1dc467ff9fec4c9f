"""Redis keeps what it acknowledged across a restart, even a crash (AOF)."""

import pytest

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
