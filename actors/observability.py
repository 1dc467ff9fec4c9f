"""What a process tells the Ray dashboard and Prometheus: its circuit breakers, and
gauges read from its own state (``export_gauge``).

Each flashsale process (a Serve replica, a shard, the publisher, the sink, the clock)
calls ``watch_breakers`` once as it starts: it sets the breakers' thresholds from the
settings and exports, as Ray metrics, each breaker's state (0 closed, 1 half open,
2 open) and how many times it opened, tagged by dependency and by the kind of process
(bounded label sets: Ray adds the worker's own tags).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ray.util import metrics

from actors.adapters.breakers import BREAKERS, STATES
from cluster.settings import Settings

_watching = False
_REFRESH_S = 2.0


def breaker_summary() -> dict[str, dict[str, Any]]:
    """This process's breakers: state and times opened, for an actor's stats.

    A function, not ``BREAKERS`` itself, for the actor classes to call: Ray ships a
    ``@ray.remote`` class by value, and with it a copy of any module-level object its
    methods name (the creating process's breakers); a function travels by reference
    and reads the worker's own."""
    return BREAKERS.summary()


def watch_breakers(settings: Settings, process: str, dependencies: tuple[str, ...]) -> None:
    global _watching
    BREAKERS.configure(settings.breaker_failures, settings.breaker_open_s)
    if _watching:
        return
    _watching = True
    state = metrics.Gauge(
        "flashsale_breaker_state",
        description="Circuit breaker state per dependency: 0 closed, 1 half open, 2 open.",
        tag_keys=("dependency", "process"),
    )
    opened = metrics.Counter(
        "flashsale_breaker_opened",
        description="Times a dependency's circuit breaker opened.",
        tag_keys=("dependency", "process"),
    )

    def changed(dependency: str, new_state: str) -> None:
        tags = {"dependency": dependency, "process": process}
        state.set(STATES.index(new_state), tags=tags)
        if new_state == "opened":
            opened.inc(tags=tags)

    BREAKERS.listen(changed)
    for dependency in dependencies:
        BREAKERS(dependency)  # made now, so that the gauge starts at closed

    def refresh() -> None:
        # Ray forgets a gauge value not set again within two export intervals (its
        # recorder takes silence for a dead worker), so the states are set anew.
        while True:
            for dependency, name in BREAKERS.states().items():
                tags = {"dependency": dependency, "process": process}
                state.set(STATES.index(name), tags=tags)
            time.sleep(_REFRESH_S)

    threading.Thread(target=refresh, name="breaker-gauges", daemon=True).start()


# What a process reads from its own state for a gauge: tag values (in ``tag_keys``
# order) -> value. A tag set that disappears from one read to the next stops being set
# and Ray drops it within two export intervals (a retired deal's series ends).
GaugeRead = Callable[[], Awaitable[dict[tuple[str, ...], float]]]


def export_gauge(
    name: str, description: str, tag_keys: tuple[str, ...], read: GaugeRead
) -> asyncio.Task[None]:
    """Set the gauge ``name`` from ``read`` every few seconds, on this actor's loop.

    A gauge is read, not pushed from the hot path: a shard's counts change on every
    purchase, and setting a Ray metric there would cost each buyer; a read every
    ``_REFRESH_S`` costs nothing per purchase. A failed read (Redis away) skips a
    round: the breaker already says why."""
    gauge = metrics.Gauge(name, description=description, tag_keys=tag_keys)

    async def refresh() -> None:
        while True:
            try:
                for tags, value in (await read()).items():
                    gauge.set(value, tags=dict(zip(tag_keys, tags, strict=True)))
            except Exception:
                logging.getLogger("flashsale.metrics").debug(
                    "reading %s failed", name, exc_info=True
                )
            await asyncio.sleep(_REFRESH_S)

    return asyncio.get_running_loop().create_task(refresh())
