"""The bench report's issue-16 lines: the pipeline's CPU per 1,000 purchases, in all and
above its idle, and MySQL's catch-up, each against its target."""

from bench.report import PIPELINE, pipeline_cost, targets


def run(rps: float, pipeline_cores: float, **extra: object) -> dict:
    cpu = {part: pipeline_cores / len(PIPELINE) for part in PIPELINE}
    cpu["Storefront replica"] = 0.9  # not the pipeline's
    return {"rps": rps, "p50_ms": 10.0, "p99_ms": 30.0, "cpu": cpu, **extra}


def runs(purchase_cores: float, idle_cores: float, caught_up_s: float) -> dict[str, dict]:
    return {
        "trivial": run(2000, idle_cores),
        "purchase": run(1000, purchase_cores, mysql_caught_up_s=caught_up_s),
        "sold_out": run(2100, idle_cores),
    }


def test_the_pipeline_cost_is_per_thousand_purchases_in_all_and_above_idle() -> None:
    total, above_idle = pipeline_cost(runs(0.08, 0.03, 0.4))  # type: ignore[misc]
    assert round(total, 3) == 0.080 and round(above_idle, 3) == 0.050


def test_each_issue_16_target_is_judged() -> None:
    met = targets(runs(0.08, 0.03, 0.4), {}, 2000)
    assert any("pipeline's CPU" in line and line.endswith(": met") for line in met)
    assert any("MySQL caught up 0.4 s" in line and line.endswith(": met") for line in met)
    missed = targets(runs(0.12, 0.03, 3.5), {}, 2000)
    assert any("pipeline's CPU" in line and "NOT met" in line for line in missed)
    assert any("MySQL caught up 3.5 s" in line and "NOT met" in line for line in missed)


def test_no_cpu_figures_no_pipeline_line() -> None:
    bare = runs(0.08, 0.03, 0.4)
    del bare["purchase"]["cpu"]
    assert pipeline_cost(bare) is None
    assert not any("pipeline's CPU" in line for line in targets(bare, {}, 2000))


def test_a_pipeline_that_never_caught_up_is_not_met_and_one_not_measured_is_not_met_either() -> (
    None
):
    never = runs(0.08, 0.03, 0.4)
    never["purchase"]["mysql_caught_up_s"] = None
    assert any(
        "MySQL never caught up" in line and "NOT met" in line for line in targets(never, {}, 2000)
    )
    unseen = runs(0.08, 0.03, 0.4)
    unseen["purchase"]["cpu"] = {"Storefront replica": 0.9}  # no pipeline process seen
    assert pipeline_cost(unseen) is None


def test_the_report_says_how_to_make_it_again_with_this_runs_arguments_and_tree() -> None:
    from bench.report import reproduce

    args = {"seconds": 20, "connections": 64, "nodes": 3, "skip_sale": True, "publish": True}
    text = "\n".join(reproduce({"args": args, "cores": 2, "tree": "abc1234"}))
    assert "## How to reproduce" in text
    assert '`make bench BENCH_ARGS="--seconds 20 --connections 64 --nodes 3 --skip-sale"`' in text
    assert "abc1234" in text and "2 cores" in text
    assert "--publish" not in text.split("`")[1]  # publishing is not part of the run


def test_the_sales_payment_window_outlasts_the_backlog_a_payment_waits_behind() -> None:
    from bench.purchase import sale_payment_s

    # 20,000 first tries at 745 purchases/s: ~27 s of backlog, then up to 10 s of thought.
    assert sale_payment_s(20_000, 745) == 47
    assert sale_payment_s(20_000, 1_586) == 33
    assert sale_payment_s(100, 5_000) == 21  # the think time and 10 s, at the least
    assert sale_payment_s(1_000, 0) >= 1_000  # a run that sold nothing: no zero division
