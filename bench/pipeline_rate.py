"""The order pipeline's CPU at set purchase rates: this tree against an earlier one.

``make bench`` measures each part's CPU per 1,000 purchases at whatever rate the shop
reaches, and the pipeline (relay, Kafka broker, sink, MariaDB) has a floor per second
(each loop's rounds, the broker's threads, MariaDB's commits): per purchase it weighs
more the slower the box runs that hour. So two trees compared by that figure are two
rates compared as much as two pipelines. This sends the purchases at set rates instead
(bench/purchase.lua paces them), measures every part's CPU at each, and does so for two
trees on one box, taking turns: the earlier tree's stack, then this one's, and again
(``--rounds``), each brought up with its own ``make up`` (one stack per machine: the
other is down meanwhile). It ends with this tree's stack up, and writes
``bench/out/pipeline-rate/report.md`` with the medians and their ratios.

    make bench-pipeline                       # against the tree before issue 16
    make bench-pipeline PIPELINE_ARGS="--base 2c414c4 --rates 600 --rounds 1"

The earlier tree is checked out as a git worktree under the state directory; its first
``make up`` builds its own virtualenv. Both stacks come up on their defaults: the
``FLASHSALE_*`` variables of the caller's environment are not passed on (a sourced
``.flashsale/env`` would point the other tree at this tree's state).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import plots, wrk  # noqa: E402
from bench.cpu import cpu_ticks, cpu_used  # noqa: E402
from bench.purchase import make_deal, measured_tree, token_file  # noqa: E402
from bench.report import PIPELINE  # noqa: E402
from cluster.local.env import load_settings  # noqa: E402
from serve_app.auth import issue_token  # noqa: E402

# The tree before issue 16's changes (2026-12-06 08:15Z): the figure it asked to halve.
BEFORE_ISSUE_16 = "2c414c4"
# Enough that a slot rarely finds every connection waiting on an answer.
_CONNECTIONS = 32
_WARM_S = 15  # the broker's JIT, every loop and pool
_SETTLE_S = 5  # the pipeline catches up on the warm-up before the idle reading
OUT = ROOT / "bench" / "out" / "pipeline-rate"
DOCS = ROOT / "docs"


def per_thousand(cores: dict[str, float], rate: float) -> dict[str, float]:
    """Cores used -> CPU seconds per 1,000 purchases at ``rate`` a second."""
    return {part: used / rate * 1000 for part, used in cores.items()}


def measure(state_dir: Path, rate: float, seconds: int, idle_s: int) -> dict:
    """One paced run on the stack whose state is ``state_dir``: a fresh deal, a warm-up,
    the pipeline's parts idle, then ``seconds`` of purchases at ``rate``."""
    settings = load_settings({"FLASHSALE_STATE_DIR": str(state_dir)}, running_stack=True)
    admin = issue_token(settings.jwt_secret, "bench-admin", "admin", 7200)[0]
    deal = make_deal(settings, admin, stock=10_000_000, limit=1000)
    run_id = f"{int(time.time())}-{rate:g}"
    tokens = token_file(settings, f"rate-{run_id}", 2000)
    path = f"/api/deals/{deal}/purchase"
    url = f"http://127.0.0.1:{settings.http_port}{path}"

    def load(s: int, phase: str) -> dict:
        env = {
            **os.environ,
            "FLASHSALE_BENCH_TOKENS": tokens,
            "FLASHSALE_BENCH_PATH": path,
            "FLASHSALE_BENCH_RUN": f"{run_id}-{phase}",
            "FLASHSALE_BENCH_THREAD_RATE": str(rate),
        }
        return wrk.run(url, seconds=s, connections=_CONNECTIONS, threads=1, env=env)

    try:
        load(_WARM_S, "warm")
        time.sleep(_SETTLE_S)
        before = cpu_ticks()
        time.sleep(idle_s)
        idle = cpu_used(before, idle_s)
        run = load(seconds, "measured")
    finally:
        os.unlink(tokens)
    reached = run["rps"]
    loaded = per_thousand(run["cpu"], reached)
    return {
        "asked": rate,
        "rate": reached,
        "p99_ms": run["p99_ms"],
        "statuses": run["statuses"],
        "idle_cores": {p: idle.get(p, 0.0) for p in PIPELINE},
        "parts": {p: loaded.get(p, 0.0) for p in PIPELINE},
        "pipeline": sum(loaded.get(p, 0.0) for p in PIPELINE),
    }


def stack_env() -> dict[str, str]:
    """The caller's environment without its flashsale settings (see the docstring)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}


def make(tree: Path, target: str) -> None:
    print(f"[pipeline-rate] make {target} in {tree}", flush=True)
    proc = subprocess.run(
        ["make", target], cwd=tree, env=stack_env(), text=True, capture_output=True
    )
    if proc.returncode:
        raise RuntimeError(
            f"make {target} in {tree} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )


def worktree(rev: str, state_dir: Path) -> Path:
    """The tree at ``rev``, checked out once under the state directory."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = state_dir / "trees" / sha
    if not (tree / ".git").exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), sha],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return tree


def summarise(runs: list[dict]) -> dict:
    """Per tree and asked rate: the medians of the rounds, and this tree's ratio to the
    base's (this ÷ base: under 0.5 is less than half)."""
    table: dict[str, dict[float, dict]] = {}
    for tree in ("base", "this"):
        for rate in sorted({r["asked"] for r in runs}):
            mine = [r for r in runs if r["tree"] == tree and r["asked"] == rate]
            if mine:
                table.setdefault(tree, {})[rate] = {
                    "rate": statistics.median(r["rate"] for r in mine),
                    "pipeline": statistics.median(r["pipeline"] for r in mine),
                    "parts": {p: statistics.median(r["parts"][p] for r in mine) for p in PIPELINE},
                    "each": [r["pipeline"] for r in mine],
                }
    ratios = {
        rate: table["this"][rate]["pipeline"] / table["base"][rate]["pipeline"]
        for rate in table.get("this", {})
        if rate in table.get("base", {}) and table["base"][rate]["pipeline"]
    }
    return {"table": table, "ratios": ratios}


def write_report(results: dict, out: Path) -> Path:
    # From the runs, not a stored summary: JSON turns its rates into strings.
    s, base, this = summarise(results["runs"]), results["base"], results["this"]
    lines = [
        "# The order pipeline's CPU at set purchase rates",
        "",
        f"Run {results['at']}: the tree at {base} (base) against this tree ({this}), "
        f"{results['rounds']} round(s) each, taking turns on one box; each run "
        f"{results['seconds']} s of purchases paced by bench/purchase.lua over "
        f"{_CONNECTIONS} connections, after a {_WARM_S} s warm-up. CPU seconds per "
        "1,000 purchases of the relay, the Kafka broker, the sink and MariaDB "
        "(medians of the rounds; each round's figure in brackets).",
        "",
        "| purchases/s asked (reached: base, this) | base | this tree | this ÷ base |",
        "| --- | ---: | ---: | ---: |",
    ]
    for rate in sorted(s["table"].get("base", {}) | s["table"].get("this", {})):
        b, t = s["table"].get("base", {}).get(rate), s["table"].get("this", {}).get(rate)
        reached = ", ".join(f"{x['rate']:.0f}" if x else "-" for x in (b, t))
        cell = [
            f"{x['pipeline']:.3f} ({', '.join(f'{v:.3f}' for v in x['each'])})" if x else "-"
            for x in (b, t)
        ]
        ratio = f"{s['ratios'][rate]:.2f}" if rate in s["ratios"] else "-"
        lines.append(f"| {rate:g} ({reached}) | {cell[0]} | {cell[1]} | {ratio} |")
    lines += [
        "",
        "Per part (medians, CPU-s per 1,000 purchases, base → this tree):",
        "",
        "| purchases/s asked | " + " | ".join(PIPELINE) + " |",
        "| --- |" + " ---: |" * len(PIPELINE),
    ]
    for rate in sorted(s["ratios"]):
        b, t = s["table"]["base"][rate]["parts"], s["table"]["this"][rate]["parts"]
        lines.append(
            f"| {rate:g} | " + " | ".join(f"{b[p]:.3f} → {t[p]:.3f}" for p in PIPELINE) + " |"
        )
    args = f' PIPELINE_ARGS="{results["args"]}"' if results["args"] else ""
    lines += [
        "",
        "![the pipeline's CPU per 1,000 purchases at each rate](pipeline-rate.png)",
        "",
        "## How to reproduce",
        "",
        f"`make bench-pipeline{args}` on the tree at {results['this']}, on a machine of "
        f"{os.cpu_count()} cores; the report lands in `bench/out/pipeline-rate/` "
        "(`--publish` also writes it to docs/pipeline-rate.md). The first run of each "
        f"visit meets a broker that has just started, warmed for the same {_WARM_S} s in "
        "both trees.",
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    labels = {"base": f"{base} (base)", "this": f"{this} (this tree)"}
    plots.pipeline_at_rates(s, labels, out / "pipeline-rate.png")
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report


def publish(report: Path) -> Path:
    """The report as docs/pipeline-rate.md, its plot under docs/bench/."""
    (DOCS / "bench").mkdir(exist_ok=True)
    shutil.copyfile(report.parent / "pipeline-rate.png", DOCS / "bench" / "pipeline-rate.png")
    text = report.read_text().replace("](pipeline-rate.png)", "](bench/pipeline-rate.png)")
    header = "<!-- Written by `make bench-pipeline PIPELINE_ARGS=--publish` (bench/pipeline_rate.py). -->\n\n"
    target = DOCS / "pipeline-rate.md"
    target.write_text(header + text)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=BEFORE_ISSUE_16, help="the earlier tree (a git rev)")
    parser.add_argument("--rates", default="300,600,900", help="purchases a second, each")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20, help="each measured run")
    parser.add_argument("--idle-seconds", type=int, default=20)
    parser.add_argument("--publish", action="store_true", help="also write docs/pipeline-rate.md")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="no runs: write the report again from a run's results.json",
    )
    args = parser.parse_args(argv)
    if args.source:
        report = write_report(json.loads(args.source.read_text()), OUT)
        print(f"[pipeline-rate] report: {publish(report) if args.publish else report}")
        return 0
    rates = [float(r) for r in args.rates.split(",")]
    # Both stacks come up on their defaults, so each tree's state is its .flashsale.
    base_tree = worktree(args.base, ROOT / ".flashsale")
    this = measured_tree()
    runs: list[dict] = []
    make(ROOT, "down")
    try:
        for _ in range(args.rounds):
            for tree, where in (("base", base_tree), ("this", ROOT)):
                make(where, "up")
                try:
                    for rate in rates:
                        r = measure(where / ".flashsale", rate, args.seconds, args.idle_seconds)
                        runs.append({"tree": tree, **r})
                        print(
                            f"[pipeline-rate] {tree} {rate:g}/s: reached {r['rate']:.0f}/s,"
                            f" pipeline {r['pipeline']:.3f} CPU-s per 1,000",
                            flush=True,
                        )
                finally:
                    make(where, "down")
    finally:
        make(ROOT, "up")
    results = {
        "at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "base": args.base,
        "this": this,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "args": " ".join(
            a for a in (argv if argv is not None else sys.argv[1:]) if a != "--publish"
        ),
        "runs": runs,
    }
    report = write_report(results, OUT)
    print(f"[pipeline-rate] report: {publish(report) if args.publish else report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
