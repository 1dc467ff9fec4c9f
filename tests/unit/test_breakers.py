"""Circuit breakers: what counts as an outage, the state machine, and that every adapter
call goes through one."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil

import aiokafka.errors
import pymysql
import pytest
import redis.exceptions

import actors.adapters
from actors.adapters import breakers
from actors.adapters.breakers import UNGUARDED, Breaker, Breakers, is_outage
from actors.adapters.kafka_client import KafkaClientLifecycle
from actors.ports import DependencyDown, Fenced, StoreError


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    # purgatory's open state reads time.time(); so does Breaker.retry_after_s.
    monkeypatch.setattr("purgatory.domain.model.time.time", fake.time)
    monkeypatch.setattr(breakers.time, "time", fake.time)
    return fake


def wrapped(cause: BaseException) -> StoreError:
    try:
        raise StoreError("checkpoint failed") from cause
    except StoreError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (redis.exceptions.ConnectionError("gone"), True),
        (redis.exceptions.TimeoutError("slow"), True),
        (wrapped(redis.exceptions.TimeoutError("slow")), True),
        # This process's own connection pool full: its load, not Redis away.
        (redis.exceptions.MaxConnectionsError("no connection free"), False),
        (wrapped(redis.exceptions.MaxConnectionsError("no connection free")), False),
        (aiokafka.errors.KafkaConnectionError(), True),
        (aiokafka.errors.RequestTimedOutError(), True),
        (pymysql.err.OperationalError(2003, "can't connect"), True),
        (pymysql.err.OperationalError(2013, "lost connection"), True),
        (pymysql.err.OperationalError(1213, "deadlock"), False),
        (pymysql.err.IntegrityError(1062, "duplicate"), False),
        (wrapped(redis.exceptions.ResponseError("FENCED")), False),
        (Fenced("superseded"), False),
        (ValueError("a bug of ours"), False),
    ],
)
def test_only_a_dependency_that_did_not_answer_is_an_outage(exc: Exception, outage: bool) -> None:
    assert is_outage(exc) is outage


async def fail(breaker: Breaker, exc: Exception) -> None:
    with pytest.raises(type(exc)):
        async with breaker:
            raise exc


async def succeed(breaker: Breaker) -> None:
    async with breaker:
        pass


async def test_it_opens_after_the_threshold_and_then_fails_at_once(clock: Clock) -> None:
    breaker = Breaker("redis", failures=3, open_s=5.0)
    for _ in range(2):
        await fail(breaker, redis.exceptions.ConnectionError())
    assert breaker.state == "closed"
    await fail(breaker, redis.exceptions.ConnectionError())
    assert breaker.state == "opened" and breaker.opened == 1
    clock.now += 2.0
    ran = False
    with pytest.raises(DependencyDown) as refused:
        async with breaker:
            ran = True
    assert not ran  # the call was not made
    assert refused.value.retry_after_s == pytest.approx(3.0)
    assert isinstance(refused.value, StoreError) and refused.value.retriable
    assert breaker.retry_after_s() == pytest.approx(3.0)  # what the actors' stats show


async def test_the_summary_says_when_an_open_breaker_lets_a_probe_through(clock: Clock) -> None:
    made = Breakers()
    made.configure(failures=1, open_s=5.0)
    await fail(made("redis"), redis.exceptions.ConnectionError())
    clock.now += 1.5
    assert made.summary() == {
        "redis": {"state": "opened", "opened": 1, "retry_after_s": pytest.approx(3.5)}
    }
    await succeed(made("mysql"))
    assert made.summary()["mysql"] == {"state": "closed", "opened": 0, "retry_after_s": 0.0}


async def test_a_success_or_a_refusal_resets_the_count(clock: Clock) -> None:
    breaker = Breaker("mysql", failures=2, open_s=5.0)
    await fail(breaker, pymysql.err.OperationalError(2003, "away"))
    await succeed(breaker)
    await fail(breaker, pymysql.err.OperationalError(2003, "away"))
    await fail(breaker, pymysql.err.IntegrityError(1062, "duplicate"))  # MySQL answered
    await fail(breaker, pymysql.err.OperationalError(2003, "away"))
    assert breaker.state == "closed"


async def test_after_open_s_a_probe_goes_through_and_its_success_closes(clock: Clock) -> None:
    breaker = Breaker("kafka", failures=1, open_s=5.0)
    await fail(breaker, aiokafka.errors.KafkaConnectionError())
    clock.now += 5.1
    await succeed(breaker)
    assert breaker.state == "closed"


async def test_a_failed_probe_opens_it_again(clock: Clock) -> None:
    breaker = Breaker("kafka", failures=1, open_s=5.0)
    await fail(breaker, aiokafka.errors.KafkaConnectionError())
    clock.now += 5.1
    await fail(breaker, aiokafka.errors.KafkaConnectionError())
    assert breaker.state == "opened" and breaker.opened == 2
    with pytest.raises(DependencyDown):
        async with breaker:
            pass


async def test_a_cancelled_call_says_nothing_about_the_dependency(clock: Clock) -> None:
    breaker = Breaker("redis", failures=1, open_s=5.0)
    await fail(breaker, redis.exceptions.ConnectionError())
    clock.now += 5.1

    async def probe() -> None:
        async with breaker:
            await asyncio.sleep(10)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == "half-opened"  # neither closed by it nor opened again
    await succeed(breaker)  # the next call probes: not refused as if one were still out
    assert breaker.state == "closed"


async def test_while_half_open_one_call_probes_and_the_others_fail_at_once(
    clock: Clock,
) -> None:
    breaker = Breaker("redis", failures=1, open_s=5.0)
    await fail(breaker, redis.exceptions.ConnectionError())
    clock.now += 5.1
    answer = asyncio.Event()

    async def probe() -> None:
        async with breaker:
            await answer.wait()

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    assert breaker.state == "half-opened"
    ran = False
    with pytest.raises(DependencyDown) as refused:
        async with breaker:
            ran = True
    assert not ran and refused.value.retry_after_s == breakers.PROBING_RETRY_S
    answer.set()
    await task
    assert breaker.state == "closed"
    await succeed(breaker)  # closed: everyone through again


async def test_listeners_hear_every_change(clock: Clock) -> None:
    heard: list[tuple[str, str]] = []
    registry = Breakers()
    registry.configure(failures=1, open_s=5.0)
    registry.listen(lambda name, state: heard.append((name, state)))
    breaker = registry("redis")
    assert registry("redis") is breaker  # one per dependency per process
    await fail(breaker, redis.exceptions.ConnectionError())
    clock.now += 5.1
    await succeed(breaker)
    assert heard == [("redis", "opened"), ("redis", "half-opened"), ("redis", "closed")]
    assert registry.states() == {"redis": "closed"}


def _public_coroutines(cls: type) -> list[str]:
    """Its public coroutine methods, inherited ones included."""
    return [
        name
        for name in dir(cls)
        if not name.startswith("_")
        and inspect.iscoroutinefunction(inspect.getattr_static(cls, name))
    ]


def _adapter_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(actors.adapters.__path__):
        module = importlib.import_module(f"actors.adapters.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ != module.__name__
                or cls.__name__.startswith("_")
                or getattr(cls, "_is_protocol", False)
            ):
                continue
            public = [name for name in _public_coroutines(cls)]
            if public and cls not in (Breaker, KafkaClientLifecycle):
                found.append(cls)
    return found


def test_every_call_of_every_adapter_goes_through_its_breaker() -> None:
    classes = _adapter_classes()
    assert len(classes) >= 9, [c.__name__ for c in classes]
    for cls in classes:
        for name in _public_coroutines(cls):
            guarded_by = getattr(inspect.getattr_static(cls, name), "__guarded_by__", None)
            if name in UNGUARDED:
                assert guarded_by is None, f"{cls.__name__}.{name} must always run"
            else:
                assert guarded_by == cls.__breaker__, f"{cls.__name__}.{name} is not guarded"
