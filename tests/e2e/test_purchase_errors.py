"""Every answer of the purchase row of docs/api.md, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from statistics import median

import httpx
import pytest

from cluster.local.stack import SERVICES, local_service
from cluster.settings import Settings
from tests.e2e.api_client import bearer, create_deal, purchase, stats, token
from tests.random_refs import suffix


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


@pytest.fixture
async def deal(api: httpx.AsyncClient, admin_token: str) -> dict:
    return await create_deal(api, admin_token, stock=10, limit=2)


@pytest.fixture
def buyer(stack: Settings) -> str:
    return token(stack, f"buyer-{suffix()}")


async def test_created_then_repeated(api, deal, buyer) -> None:
    first = await purchase(api, deal["deal_id"], buyer, "same-key")
    assert first.status_code == 201
    body = first.json()
    assert body["status"] == "reserved" and body["pay_by"].endswith("Z")
    again = await purchase(api, deal["deal_id"], buyer, "same-key")
    assert again.status_code == 200 and again.json() == body
    order = await api.get(f"/api/orders/{body['order_id']}", headers=bearer(buyer))
    assert order.status_code == 200
    assert order.json()["status"] == "reserved" and order.json()["amount_cents"] == 1999


async def test_a_whole_float_is_an_integer_as_json_schema_says(api, deal, buyer) -> None:
    # A JavaScript client may well send 1.0; the OpenAPI's `integer` includes it.
    response = await purchase(api, deal["deal_id"], buyer, "float", quantity=1.0)
    assert response.status_code == 201, response.text
    again = await purchase(api, deal["deal_id"], buyer, "float", quantity=1)
    assert again.status_code == 200 and again.json() == response.json()


async def test_unknown_deal(api, buyer) -> None:
    assert_error(await purchase(api, str(uuid.uuid4()), buyer, "k"), 404, "unknown_deal")


async def test_not_started_and_ended(api, admin_token, buyer) -> None:
    later = await create_deal(api, admin_token, stock=5, limit=1, starts_in_s=3600, ends_in_s=7200)
    assert_error(await purchase(api, later["deal_id"], buyer, "k"), 409, "not_started")
    over = await create_deal(api, admin_token, stock=5, limit=1, starts_in_s=-7200, ends_in_s=-3600)
    assert_error(await purchase(api, over["deal_id"], buyer, "k"), 409, "ended")


async def test_limit_exceeded(api, deal, buyer) -> None:
    assert_error(
        await purchase(api, deal["deal_id"], buyer, "k1", quantity=3), 409, "limit_exceeded"
    )
    assert (await purchase(api, deal["deal_id"], buyer, "k2", quantity=2)).status_code == 201
    assert_error(
        await purchase(api, deal["deal_id"], buyer, "k3", quantity=1), 409, "limit_exceeded"
    )


async def test_sold_out(stack, api, admin_token) -> None:
    one = await create_deal(api, admin_token, stock=1, limit=1)
    winner = token(stack, f"w-{suffix()}")
    assert (await purchase(api, one["deal_id"], winner, "k")).status_code == 201
    loser = token(stack, f"l-{suffix()}")
    assert_error(await purchase(api, one["deal_id"], loser, "k"), 410, "sold_out")
    # The replica now knows; the winner's retry still gets the order.
    assert (await purchase(api, one["deal_id"], winner, "k")).status_code == 200


async def test_rate_limited(stack, api, deal) -> None:
    hasty = token(stack, f"hasty-{suffix()}")
    n = int(stack.rate_limit_per_user) * 3
    answers = await asyncio.gather(
        *(purchase(api, deal["deal_id"], hasty, "same") for _ in range(n))
    )
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert_error(limited[0], 429, "rate_limited")
    assert int(limited[0].headers["Retry-After"]) >= 1


@pytest.mark.timeout(180)
async def test_unavailable_when_redis_is_down_and_nothing_is_acknowledged(
    stack, api, admin_token, deal, buyer
) -> None:
    if SERVICES["redis"][0] in stack.given:
        pytest.skip("redis is external; this test stops it")
    deal_id = deal["deal_id"]
    # Warm the replica's caches so the only thing missing is the checkpoint write.
    warm = await purchase(api, deal_id, buyer, "warm")
    assert warm.status_code == 201, warm.text
    warm_order = warm.json()["order_id"]
    redis_server = local_service(stack, "redis")
    await asyncio.to_thread(redis_server.stop)
    try:
        # Each buyer told 503 at once, with when to retry: the first calls find Redis
        # away themselves, the later ones meet the shard's open breaker.
        took_s = []
        for _ in range(3 * stack.breaker_failures):
            started = time.perf_counter()
            answer = await purchase(api, deal_id, token(stack, f"b-{suffix()}"), "k")
            took_s.append(time.perf_counter() - started)
            assert_error(answer, 503, "unavailable")
            assert int(answer.headers["Retry-After"]) >= 1
        # Reads that need no write keep working: the deals are in MySQL and in memory.
        listed = await api.get("/api/deals")
        assert listed.status_code == 200, listed.text
        assert deal_id in {d["deal_id"] for d in listed.json()}

        # The replica's own Redis breaker (an order is read from Redis) opens after
        # FLASHSALE_BREAKER_FAILURES calls found it away, and /healthz says so.
        async def replica_breaker() -> str:
            await api.get(f"/api/orders/{warm_order}", headers=bearer(buyer))
            return (await api.get("/healthz")).json()["parts"]["redis"]["breaker"]

        deadline = time.monotonic() + 30
        while (state := await replica_breaker()) != "open":
            assert time.monotonic() < deadline, f"the replica's Redis breaker stayed {state}"
    finally:
        await asyncio.to_thread(redis_server.start)
    counting, opened = took_s[: stack.breaker_failures], took_s[stack.breaker_failures :]
    print(
        f"\nRedis stopped: 503 in at most {max(counting) * 1000:.0f} ms while the breakers "
        f"counted, {max(opened) * 1000:.0f} ms once open (median {median(opened) * 1000:.0f})"
    )
    # Back by themselves: the breaker's probe closes it; the next purchase is sold.
    deadline = time.monotonic() + 60
    later = token(stack, f"b-{suffix()}")
    while (answer := await purchase(api, deal_id, later, "k")).status_code != 201:
        assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.5)
    while await replica_breaker() != "closed":
        assert time.monotonic() < deadline, "the replica's Redis breaker never closed"
        await asyncio.sleep(0.5)
    figures = await stats(api, admin_token, deal_id)
    assert figures["held"] == 2  # the warm-up and the one after: the refused left no trace


BAD_BODIES = [
    (b"{not json", "application/json"),
    (b'{"quantity": "2"}', "application/json"),
    (b'{"quantity": 1.5}', "application/json"),
    (b'{"quantity": true}', "application/json"),
    (b'{"quantity": 0}', "application/json"),
    (b'{"quantity": -1}', "application/json"),
    (b'{"quantity": 1000000000000}', "application/json"),
    (b'{"quantity": 1, "price_cents": 0}', "application/json"),
    (b"{}", "application/json"),
    (b"[1]", "application/json"),
    (b"", "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
async def test_bad_bodies_are_422_and_change_nothing(
    api, admin_token, deal, buyer, body, content_type
) -> None:
    before = await stats(api, admin_token, deal["deal_id"])
    response = await api.post(
        f"/api/deals/{deal['deal_id']}/purchase",
        content=body,
        headers={**bearer(buyer), "Idempotency-Key": "k", "Content-Type": content_type},
    )
    assert_error(response, 422, "invalid_request")
    assert await stats(api, admin_token, deal["deal_id"]) == before


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "semi;colon", "ünïcode".encode()])
async def test_bad_idempotency_keys_are_422(api, deal, buyer, key: str | bytes) -> None:
    response = await api.post(
        f"/api/deals/{deal['deal_id']}/purchase",
        json={"quantity": 1},
        headers={**bearer(buyer), "Idempotency-Key": key},
    )
    assert_error(response, 422, "invalid_request")


async def test_missing_idempotency_key_is_422(api, deal, buyer) -> None:
    response = await api.post(
        f"/api/deals/{deal['deal_id']}/purchase", json={"quantity": 1}, headers=bearer(buyer)
    )
    assert_error(response, 422, "invalid_request")


async def test_key_reused_for_another_quantity_is_422(api, deal, buyer) -> None:
    assert (await purchase(api, deal["deal_id"], buyer, "k", quantity=1)).status_code == 201
    assert_error(
        await purchase(api, deal["deal_id"], buyer, "k", quantity=2), 422, "invalid_request"
    )


async def test_oversized_body_is_413(api, deal, buyer) -> None:
    response = await api.post(
        f"/api/deals/{deal['deal_id']}/purchase",
        content=b'{"quantity": 1, "pad": "' + b"x" * 20_000 + b'"}',
        headers={**bearer(buyer), "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert_error(response, 413, "body_too_large")


def forged_tokens(stack: Settings) -> list[str]:
    from serve_app.auth import issue_token

    return [
        issue_token("another secret entirely, 32 chars", "mallory", "buyer", 3600)[0],
        issue_token(stack.jwt_secret, "late", "buyer", 60, now=0)[0],  # expired in 1970
        issue_token(stack.jwt_secret, "who", "superuser", 3600)[0],  # no such role
        "not.a.token",
    ]


async def test_forged_expired_and_missing_tokens_are_401(stack, api, admin_token, deal) -> None:
    before = await stats(api, admin_token, deal["deal_id"])
    for bad in forged_tokens(stack):
        assert_error(await purchase(api, deal["deal_id"], bad, "k"), 401, "unauthorized")
    response = await api.post(
        f"/api/deals/{deal['deal_id']}/purchase",
        json={"quantity": 1},
        headers={"Idempotency-Key": "k"},
    )
    assert_error(response, 401, "unauthorized")
    assert await stats(api, admin_token, deal["deal_id"]) == before


async def test_someone_elses_order_is_404(stack, api, deal, buyer) -> None:
    order_id = (await purchase(api, deal["deal_id"], buyer, "k")).json()["order_id"]
    stranger = token(stack, f"stranger-{suffix()}")
    response = await api.get(f"/api/orders/{order_id}", headers=bearer(stranger))
    assert_error(response, 404, "unknown_order")


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("ray_driver")
async def test_a_shard_killed_for_good_is_made_anew_from_its_checkpoint(
    stack, api, admin_token, deal, buyer
) -> None:
    import ray

    from cluster import names

    first = await purchase(api, deal["deal_id"], buyer, "before")
    assert first.status_code == 201
    for n in range(len((await stats(api, admin_token, deal["deal_id"]))["shards"])):
        ray.kill(ray.get_actor(names.stock_shard(deal["deal_id"], n), namespace=names.NAMESPACE))
    statuses = []
    # The replica's handle is dead: it makes the call again on a new copy (one slower
    # answer). A 503 remains possible while Ray still has the dying actor by name.
    for attempt in range(10):
        response = await purchase(api, deal["deal_id"], buyer, "after")
        statuses.append(response.status_code)
        if response.status_code != 503:
            break
        await asyncio.sleep(0.2 * attempt)
    # 201; or the kill landed just after the dying copy wrote the order but before it
    # answered: the replica's own retry on the new copy, or the buyer's after a 503,
    # then finds that order (200). Either way exactly one order: the counts below.
    assert statuses[-1] in (200, 201), statuses
    again = await purchase(api, deal["deal_id"], buyer, "before")
    assert again.status_code == 200 and again.json() == first.json()
    figures = await stats(api, admin_token, deal["deal_id"])
    assert (figures["held"], figures["available"]) == (2, 8)
