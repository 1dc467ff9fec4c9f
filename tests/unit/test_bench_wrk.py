"""bench/wrk.py: a run's figures from its one-second slices (pure: no wrk runs here)."""

from __future__ import annotations

from bench.wrk import RANKS, _parse, merged_percentile, summarise


def slice_of(requests: int, latency_us: float, statuses: dict[str, int] | None = None) -> dict:
    """A slice whose requests all took ``latency_us``... spread evenly up to it."""
    quantiles = [int(latency_us * rank / 100) for rank in RANKS]
    return {
        "t": 1.0,
        "requests": requests,
        "duration_s": 1.0,
        "quantiles_us": quantiles,
        "statuses": statuses or {"201": requests},
        "errors": "",
    }


def test_the_output_of_the_lua_script_is_read() -> None:
    quantiles = ",".join(str(100 + i) for i in range(len(RANKS)))
    out = (
        "Running 1s test\n  Socket errors: connect 0, read 2, write 0, timeout 0\n"
        f"STATUSES 201=90,503=3\nQUANTILES {quantiles}\nCOUNTS 93 1002000\n"
    )
    parsed = _parse(out)
    assert parsed["requests"] == 93 and parsed["duration_s"] == 1.002
    assert parsed["statuses"] == {"201": 90, "503": 3}
    assert parsed["quantiles_us"][0] == 100 and len(parsed["quantiles_us"]) == len(RANKS)
    assert parsed["errors"].startswith("Socket errors")


def test_equal_slices_merge_to_their_own_percentiles() -> None:
    slices = [slice_of(1000, 10_000), slice_of(1000, 10_000)]
    assert abs(merged_percentile(slices, 50) - 5.0) < 0.1
    assert abs(merged_percentile(slices, 99) - 9.9) < 0.1


def test_a_busier_slice_weighs_more_in_the_merge() -> None:
    # 9,000 fast requests and 1,000 slow: the median is fast, p99 is slow.
    slices = [slice_of(9000, 1_000), slice_of(1000, 100_000)]
    assert merged_percentile(slices, 50) < 1.0
    assert merged_percentile(slices, 99) > 50.0


def test_the_summary_adds_statuses_and_counts_server_errors() -> None:
    run = summarise([slice_of(10, 1000, {"201": 8, "503": 2}), slice_of(5, 1000, {"410": 5})])
    assert run["requests"] == 15 and run["rps"] == 7.5
    assert run["statuses"] == {"201": 8, "503": 2, "410": 5}
    assert run["server_errors"] == 2
    assert [s["rps"] for s in run["series"]] == [10.0, 5.0]


def test_ray_processes_are_named_by_part_in_the_cpu_table() -> None:
    from bench.cpu import part_of

    venv = "/w/.venv/lib/python3.11/site-packages/ray"
    assert part_of("ray::DashboardAgent") == "Ray: dashboard agent (metrics export)"
    assert part_of(f"{venv}/core/src/ray/gcs/gcs_server --log_dir=/x") == "Ray: GCS"
    assert part_of(f"{venv}/core/src/ray/raylet/raylet --raylet_socket_name=/x") == "Ray: raylet"
    assert part_of("ray::ServeController.listen_for_change") == "Ray: Serve controller, proxies"
    assert part_of(f"python -u {venv}/_private/log_monitor.py --session-dir=/x") == (
        "Ray: log monitor"
    )
    assert part_of("ray::StockShard") == "StockShard actors"
    assert part_of("/usr/bin/something-else") == "the rest (Ray's idle workers, other processes)"
