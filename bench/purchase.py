"""Benchmark: a flash sale on flashsale, beside what users would build instead.

    make bench                      # or: .venv/bin/python bench/purchase.py --seconds 15

One run, on the same machine and the same Redis and MariaDB, drives with wrk (64
connections by default; each run cut into one-second slices, bench/wrk.py):
  trivial       GET /api/time: the Serve app's ingress with no work at all
  purchase      POST /api/deals/{id}/purchase, the whole system running: every request
                a different buyer's token and a fresh Idempotency-Key on a deal with
                effectively unlimited stock; the order pipeline (relay, Kafka, sink,
                MySQL) takes the events as they come
  purchase_relay_held
                the same with the order relay held (the purchase path alone, as when
                the pipeline has cores of its own); drained and audited after
  sold_out      the same POST on a sold-out deal
  naive_mysql   baseline: one MySQL transaction per purchase (bench/baselines)
  redis_lua     baseline: bare uvicorn + one Redis Lua script (bench/baselines)
then the same purchase at 2,000 connections on the system and the baselines, then the
flash sale itself (bench/flash_sale.py: 20,000 buyers, 5,000 units, retries, payments,
cancellations and expiries), audited. The report (Markdown, JSON) and the plots go to
bench/out/. Only ratios within one run mean anything on a shared machine.

The stack comes up with the rate limits out of the way (this measures the path, not the
limiter) and an outbox bound that holds a held run's events, and is put back with the
settings it had when the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.adapters.mysql_audit import count_orders  # noqa: E402
from bench import wrk  # noqa: E402
from bench.baseline_servers import BASELINES  # noqa: E402
from bench.cpu import cpu_ticks, cpu_used  # noqa: E402
from bench.flash_sale import Scenario, run_sale  # noqa: E402
from bench.report import publish, write_report  # noqa: E402
from bench.sampler import StockSampler  # noqa: E402
from cluster import names  # noqa: E402
from cluster.clients import mysql_connect  # noqa: E402
from cluster.local import stack as local_stack  # noqa: E402
from cluster.local.env import load_settings  # noqa: E402
from cluster.local.installs import ensure_apt_packages  # noqa: E402
from cluster.local.ray_head import RayHead  # noqa: E402
from cluster.local.ray_workers import placement  # noqa: E402
from cluster.settings import Settings  # noqa: E402
from serve_app.auth import issue_token  # noqa: E402

OUT = ROOT / "bench" / "out"
# Seconds of purchases before the measured runs: the order pipeline's warm-up.
_PIPELINE_WARM_S = 15


def http(
    settings: Settings,
    method: str,
    path: str,
    body: dict | None,
    token: str,
    headers: dict[str, str] | None = None,
) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.http_port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def make_deal(
    settings: Settings,
    admin: str,
    stock: int,
    limit: int,
    shards: int | None = None,
    starts_in_s: float = -60,
) -> str:
    product = http(settings, "POST", "/api/admin/products", {"name": "bench widget"}, admin)
    now = datetime.now(UTC)
    deal = http(
        settings,
        "POST",
        "/api/admin/deals",
        {
            "product_id": product["product_id"],
            "price_cents": 100,
            "stock": stock,
            "per_user_limit": limit,
            "starts_at": (now + timedelta(seconds=starts_in_s)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            **({"shards": shards} if shards else {}),
        },
        admin,
    )
    return deal["deal_id"]


def token_file(settings: Settings, prefix: str, buyers: int) -> str:
    """A file of ``buyers`` buyers' tokens, one per line, for bench/purchase.lua (the
    caller removes it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
        for i in range(buyers):
            f.write(issue_token(settings.jwt_secret, f"{prefix}-{i}", "buyer", 7200)[0] + "\n")
        return f.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--buyers", type=int, default=5000, help="tokens the wrk runs cycle")
    parser.add_argument("--wide-connections", type=int, default=2000)
    parser.add_argument("--sale-buyers", type=int, default=Scenario.buyers)
    parser.add_argument("--sale-stock", type=int, default=Scenario.stock)
    parser.add_argument("--skip-sale", action="store_true", help="only the steady runs")
    parser.add_argument(
        "--nodes",
        type=int,
        default=3,
        help="also run trivial and purchase on a Ray cluster of this many nodes on this "
        "machine, 2 replicas, shards spread (0 or 1: skip)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also make the report docs/benchmarks.md (plots in docs/bench/)",
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    ensure_apt_packages()  # wrk
    environ = dict(os.environ)
    original = load_settings(environ)
    bench_env = {
        **environ,
        "FLASHSALE_RATE_LIMIT_PER_USER": "1000000",
        "FLASHSALE_RATE_LIMIT_GLOBAL": "100000000",
        # A held run leaves ~4,000 events a second in its deal's outbox (~0.5 KB each
        # in Redis); the default bound of 10,000 would turn it into 503s.
        "FLASHSALE_OUTBOX_MAX": "1000000",
    }
    bench = load_settings(bench_env)
    results: dict = {"args": vars(args), "cores": os.cpu_count(), "tree": measured_tree()}
    try:
        step("bringing the stack up for the benchmark")
        local_stack.up(bench)
        results["runs"], results["wide"], results["stock"] = steady_runs(bench, args)
        if args.nodes > 1:
            results["nodes"] = multi_node_runs(bench, args)
        if not args.skip_sale:
            window_s = sale_payment_s(args.sale_buyers, results["runs"]["purchase"]["rps"])
            step(f"the flash sale: a payment window of {window_s} s for its walk-aways")
            sale = load_settings({**bench_env, "FLASHSALE_PAYMENT_TIMEOUT_S": str(window_s)})
            local_stack.up(sale)
            results["sale"] = {**flash_sale(sale, args), "payment_window_s": window_s}
    finally:
        step("putting the stack back as it was")
        local_stack.up(original)
    results["minutes"] = round((time.monotonic() - started) / 60, 1)
    report = write_report(results, OUT)
    print(report.read_text())
    print(f"report: {report}")
    if args.publish:
        print(f"published: {publish(report, ROOT / 'docs')}")
    return 0


def measured_tree() -> str:
    """The commit measured, and whether the working tree differed from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return "unknown"
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return head.stdout.strip() + (" with uncommitted changes" if dirty else "")


def sale_payment_s(buyers: int, purchases_per_s: float) -> int:
    """The sale's payment window: short, so that the walk-aways' orders expire (and
    their units come back) within the run, and from this run's own pace. Every buyer's first try
    comes in the first seconds, so the shop answers them over buyers ÷ its purchase
    rate; a payment made at the end of its think time (up to 10 s) waits behind that
    backlog as a real buyer's would. A window shorter than backlog + think time
    expires orders whose buyers did pay (runs on this box's slow hours saw a third to
    four fifths of the payments refused so with a fixed 20 s): the figure would then
    measure the box's speed, not the shop."""
    backlog_s = buyers / max(purchases_per_s, 1.0)
    return math.ceil(backlog_s + Scenario.think_s[1] + 10)


def step(what: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {what} ...", flush=True)


def steady_runs(settings: Settings, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    admin = issue_token(settings.jwt_secret, "bench-admin", "admin", 7200)[0]
    big = {"stock": 10_000_000, "limit": 1000}
    deals = {
        "purchase": make_deal(settings, admin, **big),
        "purchase_relay_held": make_deal(settings, admin, **big),
        "purchase_wide": make_deal(settings, admin, **big),
    }
    sold_out = make_deal(settings, admin, stock=1, limit=1)
    run_id = int(time.time())
    tokens = token_file(settings, f"bench-{run_id}", args.buyers)
    base = f"http://127.0.0.1:{settings.http_port}"
    common = {"seconds": args.seconds, "connections": args.connections, "threads": args.threads}

    def env(path: str | None, phase: str) -> dict[str, str]:
        # Keys are unique per phase: a warm-up's keys repeated later would be replays.
        extra = {"FLASHSALE_BENCH_PATH": path} if path else {}
        return {
            **os.environ,
            "FLASHSALE_BENCH_TOKENS": tokens,
            "FLASHSALE_BENCH_RUN": f"{run_id}-{phase}",
            **extra,
        }

    def purchase_path(deal: str) -> str:
        return f"/api/deals/{deal}/purchase"

    runs: dict[str, dict] = {}
    wide: dict[str, dict] = {}
    stock: dict[str, list[dict]] = {}
    try:
        # Sell the one unit, so the sold-out run meets a deal the replicas know is sold out.
        buyer = issue_token(settings.jwt_secret, f"bench-{run_id}-winner", "buyer", 7200)[0]
        http(
            settings,
            "POST",
            purchase_path(sold_out),
            {"quantity": 1},
            buyer,
            {"Idempotency-Key": "w"},
        )
        step("warming up every path")
        for name, deal in (*deals.items(), ("sold_out", sold_out)):
            path = purchase_path(deal)
            # The purchase runs' warm-up drives the order pipeline too: a Kafka broker
            # just started compiles its hot code for the first seconds of load (0.046
            # CPU-s per 1,000 purchases measured then, 0.018-0.023 warm), and the per-part
            # table is of the pipeline in service, not of the broker's start.
            seconds = _PIPELINE_WARM_S if name == "purchase" else 3
            wrk.run(base + path, **{**common, "seconds": seconds}, env=env(path, "warm"))
        step("trivial")
        runs["trivial"] = wrk.run(base + "/api/time", **common, env=env(None, "trivial"))
        for name in ("purchase", "purchase_relay_held"):
            step(name)
            deal, path = deals[name], purchase_path(deals[name])
            held = name == "purchase_relay_held"
            with StockSampler(settings, admin, deal) as sampler:
                if held:
                    hold_relay(settings, args.seconds + 30)  # ends by itself should we die
                try:
                    runs[name] = wrk.run(base + path, **common, env=env(path, name))
                    ended_t = sampler.now()
                finally:
                    if held:
                        hold_relay(settings, 0)
                # The order pipeline lags the burst by design: let it catch up (and
                # check the invariants of everything just sold) before the next run.
                step("waiting for the order pipeline, then auditing the deal")
                runs[name]["mysql_caught_up_s"] = sampler.wait_caught_up(ended_t, 600)
            runs[name]["audit"] = audit_deal(settings, deal)
            stock[name] = sampler.samples
        step("sold_out")
        path = purchase_path(sold_out)
        runs["sold_out"] = wrk.run(base + path, **common, env=env(path, "late"))
        with ExitStack() as servers:
            started = {}
            for baseline in BASELINES:
                step(f"baseline {baseline.name}")
                started[baseline.name] = servers.enter_context(baseline.serve(settings))
                deal_id = f"bench-{run_id}"
                started[baseline.name].setup_deal(deal_id, **big)
                url = started[baseline.name].url + purchase_path(deal_id)
                wrk.run(url, **{**common, "seconds": 3}, env=env(purchase_path(deal_id), "bwarm"))
                runs[baseline.name] = wrk.run(
                    url, **common, env=env(purchase_path(deal_id), baseline.name)
                )
                runs[baseline.name]["left"] = started[baseline.name].check(deal_id, **big)
            # One slice: 2,000 connections opened anew each second would measure the
            # handshakes, not the shop.
            wide_seconds = min(args.seconds, 10)
            wide_common = {
                **common,
                "seconds": wide_seconds,
                "connections": args.wide_connections,
                "slice_s": wide_seconds,
            }
            step(f"{args.wide_connections} connections: the system")
            path = purchase_path(deals["purchase_wide"])
            wide["purchase"] = wrk.run(base + path, **wide_common, env=env(path, "wide"))
            for baseline in BASELINES:
                step(f"{args.wide_connections} connections: baseline {baseline.name}")
                deal_id = f"bench-{run_id}-wide"
                started[baseline.name].setup_deal(deal_id, **big)
                url = started[baseline.name].url + purchase_path(deal_id)
                wide[baseline.name] = wrk.run(
                    url, **wide_common, env=env(purchase_path(deal_id), f"wide-{baseline.name}")
                )
    finally:
        os.unlink(tokens)
    return runs, wide, stock


def _restart_ray(old: Settings, new: Settings) -> None:
    """Ray alone started anew (a node count takes effect only when Ray starts)."""
    RayHead(old).stop()
    local_stack.up(new)


def multi_node_runs(settings: Settings, args: argparse.Namespace) -> dict:
    """trivial and purchase again, on a Ray head and ``args.nodes - 1`` worker nodes
    (separate raylets on this machine), two replicas and the deal's two shards spread:
    on one machine this cannot add cores, so it shows what spreading costs."""
    spread = settings.model_copy(update={"ray_nodes": args.nodes, "serve_replicas": 2})
    step(f"{args.nodes} Ray nodes, 2 replicas: restarting Ray")
    _restart_ray(settings, spread)
    try:
        admin = issue_token(spread.jwt_secret, "bench-admin", "admin", 7200)[0]
        deal = make_deal(spread, admin, stock=10_000_000, limit=1000, shards=2)
        run_id = int(time.time())
        tokens = token_file(spread, f"nodes-{run_id}", args.buyers)
        base = f"http://127.0.0.1:{spread.http_port}"
        path = f"/api/deals/{deal}/purchase"
        common = {"seconds": args.seconds, "connections": args.connections, "threads": args.threads}
        env = {**os.environ, "FLASHSALE_BENCH_TOKENS": tokens}
        purchase_env = {**env, "FLASHSALE_BENCH_PATH": path}
        try:
            wrk.run(
                base + path,
                **{**common, "seconds": 3},
                env={**purchase_env, "FLASHSALE_BENCH_RUN": f"{run_id}-w"},
            )
            step(f"trivial on {args.nodes} nodes")
            runs = {"trivial": wrk.run(base + "/api/time", **common, env=env)}
            step(f"purchase on {args.nodes} nodes")
            runs["purchase"] = wrk.run(
                base + path, **common, env={**purchase_env, "FLASHSALE_BENCH_RUN": f"{run_id}-p"}
            )
        finally:
            os.unlink(tokens)
        runs["purchase"]["audit"] = audit_deal(spread, deal)
        return {
            "nodes": args.nodes,
            "replicas": 2,
            "shards": 2,
            "runs": runs,
            "placed": _placed(spread, deal, 2),
        }
    finally:
        step("back to one Ray node")
        _restart_ray(spread, settings)


def flash_sale(settings: Settings, args: argparse.Namespace) -> dict:
    admin = issue_token(settings.jwt_secret, "bench-admin", "admin", 7200)[0]
    scenario = Scenario(buyers=args.sale_buyers, stock=args.sale_stock)
    lead_s = 10.0  # the deal opens this long after it is made: preheat, buyers at the door
    deal = make_deal(settings, admin, stock=scenario.stock, limit=1, starts_in_s=lead_s)
    starts_at = datetime.fromisoformat(
        http(settings, "GET", f"/api/deals/{deal}", None, admin)["starts_at"].replace("Z", "+00:00")
    ).timestamp()
    run_id = int(time.time())
    tokens = [
        issue_token(settings.jwt_secret, f"sale-{run_id}-{i}", "buyer", 7200)[0]
        for i in range(scenario.buyers)
    ]
    step(
        f"{scenario.buyers} buyers, {scenario.stock} units, opening in {starts_at - time.time():.0f} s"
    )
    before = cpu_ticks()
    with StockSampler(settings, admin, deal) as sampler:
        ran = time.monotonic()
        outcome = asyncio.run(run_sale(settings, deal, starts_at, tokens, scenario))
        cpu = cpu_used(before, time.monotonic() - ran)
        sale_end_t = sampler.now()
        step("waiting for MySQL to catch up and the walk-aways to expire")
        outcome["mysql_caught_up_s"] = sampler.wait_caught_up(sale_end_t, 300)
        deadline = time.monotonic() + settings.payment_timeout_s * 3 + 120
        while time.monotonic() < deadline:
            last = [s for s in sampler.samples if "error" not in s][-1:]
            if last and last[0]["held"] == 0 and last[0]["behind"] <= 0:
                break
            time.sleep(1)
    final = http(settings, "GET", f"/api/admin/deals/{deal}/stats", None, admin)
    outcome["final"] = {k: final[k] for k in ("stock", "available", "held", "sold", "cancelled")}
    outcome["oversold"] = max(0, final["sold"] + final["held"] - final["stock"])
    outcome["in_mysql"] = mysql_orders(settings, deal)
    outcome["audit"] = audit_deal(settings, deal)
    outcome["cpu"] = cpu
    outcome["stock_series"] = sampler.samples
    outcome["order_ids"] = len(outcome["order_ids"])
    return outcome


def mysql_orders(settings: Settings, deal_id: str) -> int:
    conn = mysql_connect(settings)
    try:
        return count_orders(conn, deal_id)
    finally:
        conn.close()


def hold_relay(settings: Settings, seconds: float) -> None:
    subprocess.run(
        [sys.executable, "-m", "ops.cli", "hold-relay", "--seconds", f"{seconds}"],
        check=True,
        env={**os.environ, **settings.to_env()},
    )


def _placed(settings: Settings, deal_id: str, shards: int) -> dict[str, list[str]]:
    """The nodes the deal's shards and the Serve replicas ran on (`make status`'s view:
    rows of node, actor class and name, the node "head" or "worker N")."""
    wanted = {names.stock_shard(deal_id, i): f"shard {i}" for i in range(shards)}
    placed: dict[str, list[str]] = {"shards": [], "replicas": []}
    for row in placement(settings).splitlines()[1:]:
        words = row.split()
        cut = 2 if words[0] == "worker" else 1
        where, (cls, *name) = " ".join(words[:cut]), words[cut:]
        if name and name[0] in wanted:
            placed["shards"].append(f"{wanted[name[0]]} on {where}")
        elif cls.startswith("ServeReplica"):
            placed["replicas"].append(where)
    placed["shards"].sort()
    return placed


def audit_deal(settings: Settings, deal_id: str) -> dict:
    started = time.monotonic()
    audit = subprocess.run(
        [sys.executable, "-m", "ops.cli", "audit", "--deal", deal_id, "--wait", "600"],
        capture_output=True,
        text=True,
        env={**os.environ, **settings.to_env()},
    )
    return {
        "ok": audit.returncode == 0,
        "seconds": round(time.monotonic() - started, 1),
        "lines": audit.stdout.strip().splitlines()[:10],
    }


if __name__ == "__main__":
    sys.exit(main())
