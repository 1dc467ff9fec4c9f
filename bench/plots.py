"""The benchmark's figures as PNGs: throughput, latency, stock and MySQL's lag over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput(runs: dict[str, dict], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, r in runs.items():
        series = r.get("series") or []
        ax.plot([s["t"] for s in series], [s["rps"] for s in series], marker=".", label=name)
    ax.set(xlabel="seconds into the run", ylabel="requests/s", title="Requests served per second")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def latency(runs: dict[str, dict], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key, title in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
        for name, r in runs.items():
            series = r.get("series") or []
            ax.plot([s["t"] for s in series], [s[key] for s in series], marker=".", label=name)
        ax.set(xlabel="seconds into the run", title=f"Latency {title} per second (ms)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("ms (log)")
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def stock(samples: dict[str, list[dict]], path: Path) -> Path:
    """One panel per run: available, held and sold units over time."""
    fig, axes = plt.subplots(1, len(samples), figsize=(6 * len(samples), 4), squeeze=False)
    for ax, (name, series) in zip(axes[0], samples.items(), strict=True):
        good = [s for s in series if "error" not in s]
        for state in ("available", "held", "sold"):
            ax.plot([s["t"] for s in good], [s[state] for s in good], label=state)
        ax.set(xlabel="seconds", ylabel="units", title=f"Stock: {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def mysql_lag(samples: dict[str, list[dict]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, series in samples.items():
        good = [s for s in series if "error" not in s]
        ax.plot([s["t"] for s in good], [s["behind"] for s in good], marker=".", label=name)
    ax.set(
        xlabel="seconds",
        ylabel="orders acknowledged, not yet in MySQL",
        title="Order -> MySQL lag",
    )
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def pipeline_at_rates(summary: dict, labels: dict[str, str], path: Path) -> Path:
    """bench/pipeline_rate.py: the pipeline's CPU per 1,000 purchases against the rate,
    one line per tree (each round a dot, the median a line)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for tree, rows in summary["table"].items():
        rates = sorted(rows, key=float)
        line = ax.plot(
            [rows[r]["rate"] for r in rates],
            [rows[r]["pipeline"] for r in rates],
            marker="o",
            label=labels.get(tree, tree),
        )[0]
        for r in rates:
            ax.scatter(
                [rows[r]["rate"]] * len(rows[r]["each"]),
                rows[r]["each"],
                s=12,
                color=line.get_color(),
            )
    ax.set(
        xlabel="purchases/s (paced)",
        ylabel="CPU-s per 1,000 purchases",
        title="The order pipeline (relay, Kafka, sink, MariaDB) at set rates",
    )
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
