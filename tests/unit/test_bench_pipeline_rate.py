"""bench/pipeline_rate.py's arithmetic: CPU per 1,000 purchases at the rate reached, the
medians of the rounds per tree and rate, and the ratio of this tree to the base."""

from bench.pipeline_rate import PIPELINE, per_thousand, stack_env, summarise


def run(tree: str, asked: float, reached: float, pipeline: float) -> dict:
    parts = {p: pipeline / len(PIPELINE) for p in PIPELINE}
    return {"tree": tree, "asked": asked, "rate": reached, "parts": parts, "pipeline": pipeline}


def test_cores_become_cpu_seconds_per_thousand_at_the_rate_reached() -> None:
    assert round(per_thousand({"Kafka broker": 0.03}, 600.0)["Kafka broker"], 6) == 0.05


def test_rounds_give_medians_and_this_tree_is_divided_by_the_base() -> None:
    s = summarise(
        [
            run("base", 600, 590, 0.40),
            run("base", 600, 595, 0.30),
            run("base", 600, 600, 0.32),
            run("this", 600, 598, 0.16),
            run("this", 600, 601, 0.18),
            run("this", 600, 580, 0.15),
            run("base", 300, 299, 0.60),  # a rate only the base ran: no ratio
        ]
    )
    assert s["table"]["base"][600]["pipeline"] == 0.32
    assert s["table"]["this"][600]["pipeline"] == 0.16
    assert s["table"]["this"][600]["each"] == [0.16, 0.18, 0.15]
    assert round(s["ratios"][600], 3) == 0.5
    assert 300 not in s["ratios"]


def test_the_other_trees_stack_does_not_inherit_this_stacks_settings(monkeypatch) -> None:
    monkeypatch.setenv("FLASHSALE_STATE_DIR", "/somewhere/.flashsale")
    monkeypatch.setenv("PATH", "/usr/bin")
    env = stack_env()
    assert "FLASHSALE_STATE_DIR" not in env and env["PATH"] == "/usr/bin"


def test_the_report_gives_each_rates_ratio_and_how_to_run_it_again(tmp_path) -> None:
    from bench.pipeline_rate import write_report

    results = {
        "at": "2026-12-07T05:43Z",
        "base": "2c414c4",
        "this": "5146515",
        "rounds": 1,
        "seconds": 20,
        "args": "--rates 600 --rounds 1",
        "runs": [run("base", 600.0, 590, 0.40), run("this", 600.0, 595, 0.16)],
    }
    text = write_report(results, tmp_path).read_text()
    assert "| 600 (590, 595) | 0.400 (0.400) | 0.160 (0.160) | 0.40 |" in text
    assert 'make bench-pipeline PIPELINE_ARGS="--rates 600 --rounds 1"' in text
    assert (tmp_path / "pipeline-rate.png").stat().st_size > 0
