from collections.abc import AsyncIterator

import httpx
import pytest

from cluster.settings import Settings
from tests.e2e.api_client import client, token

pytestmark = pytest.mark.e2e


@pytest.fixture
async def api(stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client(stack) as c:
        yield c


@pytest.fixture
def admin_token(stack: Settings) -> str:
    return token(stack, "test-admin", role="admin")
