"""Rate limits (aiolimiter) on the purchase path: per user and in total.

Limits are per replica: with N ingress replicas a user can get up to N times the rate,
depending on how the proxy spreads their requests. (Circuit breakers for Redis, Kafka
and MySQL belong around the adapters, not here: issue 11.)
"""

from __future__ import annotations

import math
from collections import OrderedDict

from aiolimiter import AsyncLimiter

from cluster.settings import Settings

_MAX_TRACKED_USERS = 100_000


class RateLimits:
    def __init__(self, settings: Settings, max_users: int = _MAX_TRACKED_USERS) -> None:
        self._per_user_rate = settings.rate_limit_per_user
        self._global = AsyncLimiter(settings.rate_limit_global, 1.0)
        # Least recently seen first: the user evicted to bound memory is the one idle
        # longest, never one still hammering (it would come back with a full bucket).
        self._users: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self._max_users = max_users

    async def admit(self, user_id: str) -> float | None:
        """None to let the request in, or the seconds after which to retry (429)."""
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = AsyncLimiter(self._per_user_rate, 1.0)
            if len(self._users) > self._max_users:
                self._users.popitem(last=False)
        else:
            self._users.move_to_end(user_id)
        if not user.has_capacity():
            return self._retry_after(self._per_user_rate)
        if not self._global.has_capacity():
            return self._retry_after(self._global.max_rate)
        # Both have room, so neither acquire waits.
        await user.acquire()
        await self._global.acquire()
        return None

    @staticmethod
    def _retry_after(rate: float) -> float:
        return max(1.0, math.ceil(1.0 / rate))
