"""A deal's stock and its orders in MySQL, sampled once a second while a run goes on.

From the shop's own answers (the admin's deal stats) and MySQL's rows, not from Ray's
metrics export: that reports every few seconds, too coarse for a run of fifteen. The
lag of MySQL behind the shards is then read off the two series: orders the shards
have acknowledged (held + sold + cancelled: one unit each in the bench) less the rows.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from actors.adapters.mysql_audit import count_orders
from cluster.clients import mysql_connect
from cluster.settings import Settings

INTERVAL_S = 1.0


class StockSampler:
    def __init__(self, settings: Settings, admin_token: str, deal_id: str) -> None:
        self._settings = settings
        self._token = admin_token
        self._deal = deal_id
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stock-sampler", daemon=True)
        self._started = 0.0

    def __enter__(self) -> StockSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def now(self) -> float:
        """Seconds since sampling began: the samples' own time axis."""
        return time.monotonic() - self._started

    def _run(self) -> None:
        conn = mysql_connect(self._settings)
        try:
            while not self._stop.is_set():
                try:
                    self.samples.append(self.sample(conn))
                except Exception as exc:  # noqa: BLE001 -- a missed sample is a gap, not a failure
                    self.samples.append({"t": self.now(), "error": 1.0})
                    print(f"  (stock sample failed: {exc})", flush=True)
                self._stop.wait(INTERVAL_S)
        finally:
            conn.close()

    def sample(self, conn: object) -> dict[str, float]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self._settings.http_port}/api/admin/deals/{self._deal}/stats",
            headers={"Authorization": f"Bearer {self._token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            stats = json.load(response)
        rows = count_orders(conn, self._deal)
        acknowledged = stats["held"] + stats["sold"] + stats["cancelled"]
        return {
            "t": round(self.now(), 2),
            "available": stats["available"],
            "held": stats["held"],
            "sold": stats["sold"],
            "acknowledged": acknowledged,
            "in_mysql": rows,
            "behind": acknowledged - rows,
        }

    def wait_caught_up(self, after_t: float, timeout_s: float) -> float | None:
        """Wait for a sample, taken at ``after_t`` or later, in which MySQL has every
        acknowledged order; the seconds from ``after_t`` to it (None: not in time)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for sample in self.samples:
                if sample["t"] >= after_t and "error" not in sample and sample["behind"] <= 0:
                    return round(sample["t"] - after_t, 1)
            time.sleep(INTERVAL_S / 2)
        return None
