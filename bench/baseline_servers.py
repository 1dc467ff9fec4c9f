"""The baselines as the benchmark runs them: each a process of its own on a port of its
own, beside the running stack, on the stack's Redis and MariaDB (bench/baselines)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from cluster.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Running:
    url: str
    module: ModuleType
    settings: Settings

    def setup_deal(self, deal_id: str, *, stock: int, limit: int) -> None:
        self.module.setup_deal(self.settings, deal_id, stock, limit)

    def check(self, deal_id: str, stock: int, limit: int) -> dict[str, int | bool]:
        """What a run left behind: units sold, and whether they add up (stock kept,
        nobody over the limit). In-flight purchases when wrk stopped may still commit,
        so this is read after a pause."""
        time.sleep(1.0)
        sold = self.module.sold(self.settings, deal_id)
        left = self.module.stock_left(self.settings, deal_id)
        most = max(self.module.bought_by_buyer(self.settings, deal_id).values(), default=0)
        return {"sold": sold, "consistent": sold + left == stock and most <= limit}


@dataclass(frozen=True)
class Baseline:
    name: str
    module: str
    # Ports of the bench's own: nothing else on a flashsale machine listens there.
    port: int

    @property
    def lacks(self) -> str:
        """What it does not do that flashsale does: the module's own list, in one line."""
        doc = importlib.import_module(self.module).__doc__ or ""
        part = doc.split("What it does NOT do that flashsale does:", 1)[-1]
        items = [" ".join(i.split()) for i in part.split("\n- ")[1:]]
        return "; ".join(i.split(".")[0].split(":")[0] for i in items) or "see its module"

    @contextmanager
    def serve(self, settings: Settings) -> Iterator[Running]:
        url = f"http://127.0.0.1:{self.port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "--port", str(self.port)],
            env={**os.environ, **settings.to_env()},
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url + "/api/time", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"baseline {self.name} did not start") from None
                    time.sleep(0.3)
            yield Running(url, importlib.import_module(self.module), settings)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


BASELINES = (
    Baseline("naive_mysql", "bench.baselines.naive_mysql", 8101),
    Baseline("redis_lua", "bench.baselines.redis_lua", 8102),
)
