"""Benchmark: the purchase path against a trivial endpoint of the same Serve app.

    make bench                      # or: .venv/bin/python bench/purchase.py --seconds 20

In one run, under the same load from wrk (64 connections by default), it drives:
  trivial    GET /api/time: what the ingress costs with no work at all (the baseline)
  purchase   POST /api/deals/{id}/purchase on a deal with effectively unlimited stock,
             each request a different buyer's token and a fresh Idempotency-Key, with
             the whole system running on the same cores: the order pipeline (relay,
             Kafka, sink, MySQL) takes the events off the outbox as they come
  purchase_relay_held
             the same on a deal of its own, the order relay held for the run
             (``flashsale hold-relay``): the purchase path alone, as when the pipeline
             runs on cores of its own; the outbox holds the events, and after the run
             the relay drains them and the audit checks everything sold
  sold_out   the same POST on a sold-out deal: answered by the replica's sold-out flag
and prints req/s, p50 and p99 of each, and each one's ratio to the trivial endpoint.
Only ratios within one run mean anything on a shared 2-core machine. The report goes to
bench/out/purchase-<time>.md (and .json).

The stack comes up with the rate limits out of the way (this measures the path, not the
limiter) and an outbox bound that holds a held run's events, and is put back with the
settings it had when the run ends.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cluster.local import stack as local_stack  # noqa: E402
from cluster.local.env import load_settings  # noqa: E402
from cluster.local.installs import ensure_apt_packages, which  # noqa: E402
from cluster.settings import Settings  # noqa: E402
from serve_app.auth import issue_token  # noqa: E402

LUA = ROOT / "bench" / "purchase.lua"
# (run, least ratio to trivial, greatest p99 ms or None): the purchase path's targets,
# judged on the run with the relay held (the purchase path alone; docs/design.md,
# "Fourth round"), and the sold-out answer's.
TARGETS = (("purchase_relay_held", 0.75, 60.0), ("sold_out", 0.9, None))
OUT = ROOT / "bench" / "out"


def http(settings: Settings, method: str, path: str, body: dict | None, token: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.http_port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def make_deal(
    settings: Settings, admin: str, stock: int, limit: int, shards: int | None = None
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
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            **({"shards": shards} if shards else {}),
        },
        admin,
    )
    return deal["deal_id"]


def cpu_ticks() -> dict[str, tuple[str, int]]:
    """pid -> (what it is, CPU ticks so far), from /proc: where a run's CPU went."""
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
        found[pid] = (_process_name(cmd), int(fields[11]) + int(fields[12]))
    return found


def _process_name(cmd: str) -> str:
    for pattern, name in (
        (r"ray::ServeReplica", "Storefront replica"),
        (r"ray::StockShard", "StockShard actors"),
        (r"ray::OrderPublisher", "OrderPublisher (relay)"),
        (r"ray::OrderSink", "OrderSink"),
        (r"ray::DealClock", "DealClock"),
        (r"kafka\.Kafka", "Kafka broker"),
        (r"mariadbd", "MariaDB"),
        (r"redis-server", "Redis"),
        (r"haproxy", "HAProxy"),
        (r"^\S*wrk ", "wrk (load)"),
    ):
        if re.search(pattern, cmd):
            return name
    return "Ray and the rest"


def cpu_used(before: dict[str, tuple[str, int]], seconds: float) -> dict[str, float]:
    """Cores used per part since ``before`` (processes that ended are not counted)."""
    hz = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for pid, (name, ticks) in cpu_ticks().items():
        used = ticks - before.get(pid, (name, 0))[1]
        totals[name] = totals.get(name, 0.0) + used / hz / seconds
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(
    url: str, *, seconds: int, connections: int, threads: int, env: dict[str, str] | None, lua: bool
) -> dict:
    argv = [
        which("wrk") or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if lua:
        argv += ["-s", str(LUA)]
    before = cpu_ticks()
    started = time.monotonic()
    proc = subprocess.Popen([*argv, url], stdout=subprocess.PIPE, text=True, env=env)
    # Read the CPU figures just before wrk ends, while its own process still counts.
    time.sleep(max(0.0, seconds - 0.5))
    cpu = cpu_used(before, time.monotonic() - started)
    out, _ = proc.communicate()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    figures = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": int(m.group(1))
        if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out))
        else 0,
        "errors": (m.group(0) if (m := re.search(r"Socket errors:.*", out)) else ""),
        "cpu": cpu,
    }
    if m := re.search(r"STATUSES (\S*)", out):
        figures["statuses"] = dict(kv.split("=") for kv in m.group(1).split(",") if kv)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument(
        "--compare-shards",
        type=int,
        metavar="N",
        help="also run the purchase path on a deal of N shards (the default deal has "
        "FLASHSALE_SHARDS_PER_DEAL), to weigh the shard count in the same run",
    )
    args = parser.parse_args(argv)

    ensure_apt_packages()  # wrk
    environ = dict(os.environ)
    original = load_settings(environ)
    bench = load_settings(
        {
            **environ,
            "FLASHSALE_RATE_LIMIT_PER_USER": "1000000",
            "FLASHSALE_RATE_LIMIT_GLOBAL": "100000000",
            # A held run leaves ~4,000 events a second in its deal's outbox (~0.5 KB
            # each in Redis); the default bound of 10,000 would turn it into 503s.
            "FLASHSALE_OUTBOX_MAX": "1000000",
        }
    )
    print("bringing the stack up for the benchmark ...", flush=True)
    local_stack.up(bench)
    try:
        figures = measure(bench, args)
    finally:
        local_stack.up(original)
    report(figures, args, bench.shards_per_deal)
    return 0


def measure(settings: Settings, args: argparse.Namespace) -> dict[str, dict]:
    admin = issue_token(settings.jwt_secret, "bench-admin", "admin", 7200)[0]
    deal_id = make_deal(settings, admin, stock=10_000_000, limit=1000)
    purchases = {
        "purchase": deal_id,
        "purchase_relay_held": make_deal(settings, admin, stock=10_000_000, limit=1000),
    }
    if args.compare_shards:
        purchases[f"purchase_{args.compare_shards}_shards"] = make_deal(
            settings, admin, stock=10_000_000, limit=1000, shards=args.compare_shards
        )
    sold_out_id = make_deal(settings, admin, stock=1, limit=1)
    run = int(time.time())
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
        for i in range(args.buyers):
            f.write(issue_token(settings.jwt_secret, f"bench-{run}-{i}", "buyer", 7200)[0] + "\n")
        tokens = f.name
    # Sell the one unit, so the sold-out run meets a deal the replicas know is sold out.
    buyer = issue_token(settings.jwt_secret, f"bench-{run}-winner", "buyer", 7200)[0]
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.http_port}/api/deals/{sold_out_id}/purchase",
        method="POST",
        data=b'{"quantity":1}',
        headers={
            "Authorization": f"Bearer {buyer}",
            "Idempotency-Key": "w",
            "Content-Type": "application/json",
        },
    )
    urllib.request.urlopen(request, timeout=30).close()

    base = f"http://127.0.0.1:{settings.http_port}"
    common = {"seconds": args.seconds, "connections": args.connections, "threads": args.threads}
    env = {**os.environ, "FLASHSALE_BENCH_TOKENS": tokens}

    def lua_env(path: str, phase: str) -> dict[str, str]:
        # Keys are unique per phase: a warm-up's keys repeated later would be replays.
        return {**env, "FLASHSALE_BENCH_PATH": path, "FLASHSALE_BENCH_RUN": f"{run}-{phase}"}

    results: dict[str, dict] = {}
    try:
        # Warm up every path once (JIT of caches, shard start, connection pools).
        for deal in (*purchases.values(), sold_out_id):
            path = f"/api/deals/{deal}/purchase"
            run_wrk(base + path, **{**common, "seconds": 3}, env=lua_env(path, "warm"), lua=True)
        print("trivial ...", flush=True)
        results["trivial"] = run_wrk(base + "/api/time", **common, env=env, lua=False)
        for name, deal in purchases.items():
            print(f"{name} ...", flush=True)
            path = f"/api/deals/{deal}/purchase"
            held = name == "purchase_relay_held"
            if held:
                hold_relay(settings, args.seconds + 30)  # ends by itself should we die
            try:
                results[name] = run_wrk(base + path, **common, env=lua_env(path, name), lua=True)
            finally:
                if held:
                    hold_relay(settings, 0)
            # The order pipeline lags the burst by design: let it catch up (and check
            # the invariants of everything just sold) before the next run, which it
            # would slow.
            print("waiting for the order pipeline, then auditing the deal ...", flush=True)
            results[name]["audit"] = audit_deal(settings, deal)
        print("sold_out ...", flush=True)
        path = f"/api/deals/{sold_out_id}/purchase"
        results["sold_out"] = run_wrk(base + path, **common, env=lua_env(path, "late"), lua=True)
    finally:
        os.unlink(tokens)
    return results


def hold_relay(settings: Settings, seconds: float) -> None:
    subprocess.run(
        [sys.executable, "-m", "ops.cli", "hold-relay", "--seconds", f"{seconds}"],
        check=True,
        env={**os.environ, **settings.to_env()},
    )


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


def report(results: dict[str, dict], args: argparse.Namespace, shards: int) -> None:
    trivial = results["trivial"]["rps"]
    lines = [
        f"# purchase benchmark, {datetime.now(UTC).isoformat(timespec='seconds')}",
        "",
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {os.cpu_count()} cores, one Storefront replica, HAProxy mode, "
        f"{shards} shard(s) per deal unless the row says otherwise",
        "",
        "purchase: the whole system on these cores, the order pipeline taking the events "
        "as they come; purchase_relay_held: the order relay held for the run, so the "
        "purchase path alone (the events wait in the outbox and are drained after it)",
        "",
        "| path | req/s | ratio to trivial | p50 ms | p99 ms | statuses |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results.items():
        statuses = r.get("statuses") or {"non-2xx": r["non_2xx"]}
        lines.append(
            f"| {name} | {r['rps']:.0f} | {r['rps'] / trivial:.2f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} |"
        )
    lines += ["", "Targets:", ""]
    for name, least, p99_max in TARGETS:
        if name in results:
            r = results[name]
            ratio = r["rps"] / trivial
            line = f"- {name}: ratio {ratio:.2f} (at least {least}): {_met(ratio >= least)}"
            if p99_max is not None:
                line += f"; p99 {r['p99_ms']:.1f} ms (at most {p99_max:g}): {_met(r['p99_ms'] <= p99_max)}"
            lines.append(line)
    lines += [
        "",
        "CPU per part during each run (cores; the machine has " + f"{os.cpu_count()}):",
        "",
    ]
    parts = list(dict.fromkeys(p for r in results.values() for p in r["cpu"]))
    lines.append("| part | " + " | ".join(results) + " |")
    lines.append("| --- |" + " ---: |" * len(results))
    for part in parts:
        cells = " | ".join(f"{r['cpu'].get(part, 0.0):.2f}" for r in results.values())
        lines.append(f"| {part} | {cells} |")
    for name, r in results.items():
        if audit := r.get("audit"):
            verdict = "passed" if audit["ok"] else "FAILED"
            lines += [
                "",
                f"After the {name} run the order pipeline caught up and `flashsale audit` "
                f"{verdict} in {audit['seconds']} s:",
                "",
                *[f"    {line}" for line in audit["lines"]],
            ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"purchase-{stamp}.md").write_text(text)
    (OUT / f"purchase-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(f"report: {OUT / f'purchase-{stamp}.md'}")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
