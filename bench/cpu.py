"""Where a run's CPU went: ticks per process from /proc, named by the part they are."""

from __future__ import annotations

import os
import re
from pathlib import Path

# (command-line pattern, part): the first match names the process.
PARTS = (
    (r"ray::ServeReplica", "Storefront replica"),
    (r"ray::StockShard", "StockShard actors"),
    (r"ray::OrderPublisher", "OrderPublisher (relay)"),
    (r"ray::OrderSink", "OrderSink"),
    (r"ray::DealClock", "DealClock"),
    (r"kafka\.Kafka", "Kafka broker"),
    (r"mariadbd", "MariaDB"),
    (r"redis-server", "Redis"),
    (r"haproxy", "HAProxy"),
    (r"bench\.baselines\.naive_mysql", "baseline: naive MySQL"),
    (r"bench\.baselines\.redis_lua", "baseline: Redis Lua"),
    (r"prometheus", "Prometheus"),
    # Ray's own processes, each named: issue 16 asked where Ray's share of the bill goes.
    (r"ray::DashboardAgent", "Ray: dashboard agent (metrics export)"),
    (r"dashboard/dashboard\.py|ray-dashboard-", "Ray: dashboard"),
    (r"gcs_server", "Ray: GCS"),
    (r"/raylet ", "Ray: raylet"),
    (r"ray::ServeController|ray::ProxyActor|ray::HAProxyManager", "Ray: Serve controller, proxies"),
    (r"log_monitor\.py", "Ray: log monitor"),
    (r"^\S*wrk ", "wrk (load)"),
    (r"bench/purchase\.py", "bench (load, flash sale)"),
)


def cpu_ticks() -> dict[str, tuple[str, int]]:
    """pid -> (part, CPU ticks so far)."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[pid] = (part_of(cmd), int(fields[11]) + int(fields[12]))
    return found


def part_of(cmd: str) -> str:
    for pattern, name in PARTS:
        if re.search(pattern, cmd):
            return name
    return "the rest (Ray's idle workers, other processes)"


def cpu_used(before: dict[str, tuple[str, int]], seconds: float) -> dict[str, float]:
    """Cores used per part since ``before`` (processes that ended are not counted)."""
    hz = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for pid, (name, ticks) in cpu_ticks().items():
        used = ticks - before.get(pid, (name, 0))[1]
        totals[name] = totals.get(name, 0.0) + used / hz / seconds
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))
