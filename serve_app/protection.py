"""Rate limits and circuit breakers: the seam the purchase path calls.

For now every request is admitted. The aiolimiter limits (per user and in total) and
the purgatory breakers (Redis, Kafka, MySQL) plug in here, behind this one method, so
the routes do not change when they arrive.
"""

from __future__ import annotations

from cluster.settings import Settings


class Protection:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def admit(self, user_id: str) -> float | None:
        """None to let the request in, or the seconds after which to retry (429)."""
        return None
