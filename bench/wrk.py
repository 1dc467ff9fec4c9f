"""One load run with wrk, cut into one-second slices so that it has a time series.

wrk reports a whole run; a flash sale is about what happens second by second. So a run
of N seconds is N back-to-back wrk runs of one second over the same connections count
(a new connection per slice costs each connection one handshake a second, nothing next
to a second of requests). Each slice prints its statuses and its latency at every half
percent (bench/purchase.lua); the run's own percentiles merge those, weighted by each
slice's requests, to within half a percentile rank.
"""

from __future__ import annotations

import bisect
import os
import re
import subprocess
import time
from pathlib import Path

from bench.cpu import cpu_ticks, cpu_used
from cluster.local.installs import which

LUA = Path(__file__).with_name("purchase.lua")
# The percent ranks bench/purchase.lua prints, in its order.
RANKS = [i / 2 for i in range(1, 200)] + [99.5, 99.9, 99.99]


def run(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    env: dict[str, str],
    slice_s: int = 1,
) -> dict:
    """Load ``url`` for ``seconds``; figures for the whole run and per slice, and the
    cores each part of the machine used meanwhile (wrk's own included)."""
    before, children = cpu_ticks(), _children_cpu()
    started = time.monotonic()
    slices = []
    for i in range(max(1, seconds // slice_s)):
        out = _wrk(url, slice_s, connections, threads, {**env, "_SLICE": str(i)})
        slices.append({"t": round(time.monotonic() - started, 2), **_parse(out)})
    elapsed = time.monotonic() - started
    cpu = cpu_used(before, elapsed)
    cpu["wrk (load)"] = (_children_cpu() - children) / elapsed
    return {**summarise(slices), "cpu": dict(sorted(cpu.items(), key=lambda kv: -kv[1]))}


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _wrk(url: str, seconds: int, connections: int, threads: int, env: dict[str, str]) -> str:
    # Each slice's idempotency keys differ from every other slice's.
    run_id = f"{env.get('FLASHSALE_BENCH_RUN', 'r')}-{env['_SLICE']}"
    argv = [
        which("wrk") or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
    ]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env={**env, "FLASHSALE_BENCH_RUN": run_id}
    )
    if proc.returncode:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _parse(out: str) -> dict:
    requests, duration_us = (int(x) for x in re.search(r"COUNTS (\d+) (\d+)", out).groups())  # type: ignore[union-attr]
    quantiles = [int(float(x)) for x in re.search(r"QUANTILES (\S+)", out).group(1).split(",")]  # type: ignore[union-attr]
    statuses_text = re.search(r"STATUSES (\S*)", out).group(1)  # type: ignore[union-attr]
    statuses = {k: int(v) for k, v in (kv.split("=") for kv in statuses_text.split(",") if kv)}
    errors = m.group(0) if (m := re.search(r"Socket errors:.*", out)) else ""
    return {
        "requests": requests,
        "duration_s": duration_us / 1e6,
        "quantiles_us": quantiles,
        "statuses": statuses,
        "errors": errors,
    }


def merged_percentile(slices: list[dict], percent: float) -> float:
    """The run's latency (ms) at ``percent``, from its slices' quantiles."""
    points: list[tuple[float, float]] = []  # (latency µs, requests it stands for)
    for s in slices:
        lower = 0.0
        for rank, value in zip(RANKS, s["quantiles_us"], strict=True):
            points.append((value, s["requests"] * (rank - lower) / 100))
            lower = rank
    points.sort()
    total = sum(w for _, w in points)
    if not total:
        return 0.0
    cumulative, acc = [], 0.0
    for _, w in points:
        acc += w
        cumulative.append(acc)
    i = min(bisect.bisect_left(cumulative, total * percent / 100), len(points) - 1)
    return points[i][0] / 1000


def _at(s: dict, rank: float) -> float:
    return s["quantiles_us"][RANKS.index(rank)] / 1000


def summarise(slices: list[dict]) -> dict:
    requests = sum(s["requests"] for s in slices)
    duration = sum(s["duration_s"] for s in slices) or 1.0
    statuses: dict[str, int] = {}
    for s in slices:
        for code, n in s["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    return {
        "rps": requests / duration,
        "p50_ms": merged_percentile(slices, 50),
        "p99_ms": merged_percentile(slices, 99),
        "requests": requests,
        "statuses": statuses,
        "server_errors": sum(n for code, n in statuses.items() if code.startswith("5")),
        "socket_errors": "; ".join(sorted({s["errors"] for s in slices if s["errors"]})),
        "series": [
            {
                "t": s["t"],
                "rps": s["requests"] / (s["duration_s"] or 1.0),
                "p50_ms": _at(s, 50.0),
                "p99_ms": _at(s, 99.0),
            }
            for s in slices
        ],
    }
