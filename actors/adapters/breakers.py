"""Circuit breakers: one per dependency (Redis, MySQL, Kafka) per process, around every
public call of every adapter.

A dependency that stops answering costs each caller its whole timeout; thousands of
buyers then wait seconds for a 503, and the relay and the sink hammer it as it comes
back. After ``failures`` calls in a row found it away, its breaker opens: calls fail at
once with ``DependencyDown`` (no request is sent) for ``open_s``; then the breaker is
half open: one call goes through as the probe, the others meanwhile fail at once as if
it were open, and the probe's success closes it (its outage opens it again). purgatory
itself lets every call through while half open, so a replica with a thousand purchases
waiting would send them all at a dependency just back, or just as hung as before.

The state machine is purgatory's (its ``Context``), used in memory and directly: the
factory's message bus would cost every guarded call an extra await chain for events
we read from the state itself. Only outages count as failures: a refusal that Redis or
MySQL answered (a fenced checkpoint, a duplicate key) is a working dependency.

Adapters get their breaker by the class decorator ``guarded`` (below), so a method
added later cannot forget it; ``stop`` stays unguarded, because closing must always run.
An adapter with a ``call_timeout_s`` attribute also has each call bounded by it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import aiokafka.errors
import pymysql
import redis.exceptions
from purgatory.domain.model import Context, OpenedState

from actors.ports import DependencyDown

REDIS, MYSQL, KAFKA = "redis", "mysql", "kafka"
STATES = ("closed", "half-opened", "opened")  # purgatory's names, in order of trouble

_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # asyncio's too, since 3.11
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    aiokafka.errors.KafkaConnectionError,
    aiokafka.errors.KafkaTimeoutError,
    aiokafka.errors.RequestTimedOutError,
    aiokafka.errors.NodeNotReadyError,
)
# What a call refused while the probe is out is told: the probe answers within a call's
# timeout, and a Retry-After is whole seconds.
PROBING_RETRY_S = 1.0
# MySQL's client errors for a server that is not there (not: a deadlock it reported).
MYSQL_AWAY = frozenset({2003, 2006, 2013, 2055})


def is_outage(exc: BaseException) -> bool:
    """Did this call fail because the dependency did not answer? Adapters wrap driver
    errors once (``raise StoreError(...) from exc``), so the cause chain is read too."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, redis.exceptions.MaxConnectionsError):
            return False  # this process's own pool exhausted: its load, not Redis away
        if isinstance(seen, _OUTAGES):
            return True
        if isinstance(seen, pymysql.err.OperationalError | pymysql.err.InterfaceError):
            return (
                not seen.args
                or seen.args[0] in MYSQL_AWAY
                or isinstance(seen, pymysql.err.InterfaceError)
            )
        seen = seen.__cause__
    return False


Listener = Callable[[str, str], None]  # (dependency, new state)


class Breaker:
    def __init__(self, name: str, failures: int, open_s: float) -> None:
        self.name = name
        self.open_s = open_s
        self._context = Context(name, threshold=failures, ttl=open_s)
        self.opened = 0  # times it opened, for the metrics
        self._listeners: list[Listener] = []
        # The task whose call is the half-open breaker's probe. A task, not a flag: its
        # calls are one after another (an adapter's retry is the same probe), and one
        # that ended without leaving the breaker frees the place by being done.
        self._probe: asyncio.Task[Any] | None = None

    @property
    def state(self) -> str:
        return self._context.state

    def retry_after_s(self) -> float:
        """Seconds until an open breaker lets a probe through (0 unless open)."""
        opened_at = self._context.opened_at
        if self.state != "opened" or opened_at is None:
            return 0.0
        return max(0.0, opened_at + self.open_s - time.time())

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def __aenter__(self) -> None:
        before = self._context.state
        try:
            self._context.handle_new_request()
        except OpenedState:
            raise DependencyDown(
                f"{self.name} is unavailable (its circuit breaker is open)",
                self.retry_after_s(),
            ) from None
        finally:
            self._settle(before)
        # Only an open or half-open breaker can be half open now: a closed one's calls
        # (nearly all of them) skip the check and the task lookup.
        if before != "closed" and self._context.state == "half-opened":
            task = asyncio.current_task()
            probe = self._probe
            if probe is not None and probe is not task and not probe.done():
                raise DependencyDown(
                    f"{self.name} is unavailable (its circuit breaker is probing it)",
                    PROBING_RETRY_S,
                )
            self._probe = task

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        before = self._context.state
        if exc is None or (isinstance(exc, Exception) and not is_outage(exc)):
            self._context.handle_end_request()
        elif isinstance(exc, Exception):
            self._context.handle_exception(exc)
        # else: cancelled, which says nothing about the dependency
        if self._probe is not None and self._probe is asyncio.current_task():
            self._probe = None  # its answer is in; or, cancelled, the next call probes
        self._settle(before)

    def _settle(self, before: str) -> None:
        self._context.messages.clear()  # purgatory's events: we read the state instead
        after = self._context.state
        if after != before:
            if after == "opened":
                self.opened += 1
            for listener in self._listeners:
                listener(self.name, after)


class Breakers:
    """This process's breakers, one per dependency, made on first use."""

    def __init__(self) -> None:
        self.failures = 5
        self.open_s = 5.0
        self._made: dict[str, Breaker] = {}
        self._listeners: list[Listener] = []

    def configure(self, failures: int, open_s: float) -> None:
        """Thresholds from the settings; call before the first guarded call."""
        self.failures, self.open_s = failures, open_s
        for breaker in self._made.values():
            breaker._context.threshold, breaker._context.ttl = failures, open_s
            breaker.open_s = open_s

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)
        for breaker in self._made.values():
            breaker.listen(listener)

    def __call__(self, dependency: str) -> Breaker:
        found = self._made.get(dependency)
        if found is None:
            found = self._made[dependency] = Breaker(dependency, self.failures, self.open_s)
            for listener in self._listeners:
                found.listen(listener)
        return found

    def summary(self) -> dict[str, dict[str, Any]]:
        """Each breaker's state, how many times it opened and, while open, the seconds
        until it lets a probe through: for an actor's stats."""
        return {
            name: {"state": b.state, "opened": b.opened, "retry_after_s": b.retry_after_s()}
            for name, b in list(self._made.items())
        }

    def states(self) -> dict[str, str]:
        # A copy first: the metrics thread reads while the event loop may add one.
        return {name: b.state for name, b in list(self._made.items())}


BREAKERS = Breakers()  # one set per process: a breaker is about this process's view

C = TypeVar("C", bound=type)
UNGUARDED = frozenset({"stop"})


def guarded(dependency: str) -> Callable[[C], C]:
    """Class decorator: every public coroutine method (but ``stop``) runs inside the
    process's breaker for ``dependency``."""

    def decorate(cls: C) -> C:
        for name in dir(cls):  # inherited methods too (the Kafka adapters' start)
            member = inspect.getattr_static(cls, name)
            if name.startswith("_") or name in UNGUARDED or not inspect.iscoroutinefunction(member):
                continue
            setattr(cls, name, _guard(member, dependency))
        cls.__breaker__ = dependency  # type: ignore[attr-defined]
        return cls

    return decorate


def _guard(method: Callable[..., Any], dependency: str) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        async with BREAKERS(dependency):
            # An adapter that sets ``call_timeout_s`` has every call bounded as a whole
            # (its driver's retries included): a hung dependency then fails the call in
            # time for the breaker to learn, instead of holding the caller.
            timeout_s: float | None = getattr(self, "call_timeout_s", None)
            if timeout_s is None:
                return await method(self, *args, **kwargs)
            async with asyncio.timeout(timeout_s):
                return await method(self, *args, **kwargs)

    call.__guarded_by__ = dependency  # type: ignore[attr-defined]
    return call
