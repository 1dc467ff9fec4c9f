"""Integration tests talk to the real Redis, MariaDB, Kafka and Ray of cluster/local."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from actors.adapters import redis_keys as keys
from cluster.clients import kafka_admin, redis_client
from cluster.local.service import LocalService
from cluster.local.stack import SERVICES, local_service
from cluster.settings import Settings

pytestmark = pytest.mark.integration


def owned(settings: Settings, name: str) -> LocalService:
    """The local service, for tests that stop and start it; skip if it is external."""
    address_name, _ = SERVICES[name]
    if address_name in settings.given:
        pytest.skip(f"{name} is external ({address_name}); this test stops and starts it")
    return local_service(settings, name)


@pytest.fixture
async def redis(stack: Settings) -> AsyncIterator[aioredis.Redis]:
    client = redis_client(stack)
    yield client
    await forget_test_timers(client)
    await client.aclose()


async def forget_test_timers(client: aioredis.Redis) -> None:
    """The shards these tests drive write their orders' deadlines into the cluster's
    timer set, for deals (``test-...``) the cluster never made: its DealClock would
    retry each every 30 s for the rest of the run, on the cores that the drills and
    the e2e tests share (a stack that had run the suite a few times held ~3,300)."""
    members = [m async for m, _ in client.zscan_iter(keys.TIMERS, match="*|test-*", count=1000)]
    for i in range(0, len(members), 1000):
        await client.zrem(keys.TIMERS, *members[i : i + 1000])


@pytest.fixture
async def kafka_topic(stack: Settings) -> AsyncIterator[str]:
    """A topic of the test's own (3 partitions), deleted afterwards."""
    from aiokafka.admin import NewTopic

    from tests.random_refs import topic

    name = topic("test")
    admin = kafka_admin(stack)
    await admin.start()
    await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    yield name
    await admin.delete_topics([name])
    await admin.close()
