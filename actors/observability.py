"""What a process tells the Ray dashboard and Prometheus about its circuit breakers.

Each flashsale process (a Serve replica, a shard, the publisher, the sink, the clock)
calls ``watch_breakers`` once as it starts: it sets the breakers' thresholds from the
settings and exports, as Ray metrics, each breaker's state (0 closed, 1 half open,
2 open) and how many times it opened, tagged by dependency and by the kind of process
(bounded label sets: Ray adds the worker's own tags).
"""

from __future__ import annotations

import threading
import time
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
