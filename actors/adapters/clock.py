"""The real time source and order ids, for the shard service (tests use tests/fakes.py)."""

from __future__ import annotations

import os
import time

from actors.domain.ids import ulid


class SystemClock:
    def now(self) -> float:
        return time.time()


def new_order_id() -> str:
    return ulid(time.time_ns() // 1_000_000, os.urandom(10))
