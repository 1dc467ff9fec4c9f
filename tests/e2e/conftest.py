from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from cluster.settings import Settings
from tests.e2e.api_client import CREATED_DEALS, client, token

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client(stack) as c:
        yield c


@pytest.fixture
def admin_token(stack: Settings) -> str:
    return token(stack, "test-admin", role="admin")


@pytest.fixture(autouse=True)
def _retire_test_deals(stack: Settings, ray_driver: None) -> Iterator[None]:
    yield
    import ray

    from cluster import names

    while CREATED_DEALS:
        deal_id, shards = CREATED_DEALS.pop()
        for shard in range(shards or stack.shards_per_deal):
            try:
                ray.kill(
                    ray.get_actor(names.stock_shard(deal_id, shard), namespace=names.NAMESPACE)
                )
            except ValueError:
                pass  # never started
