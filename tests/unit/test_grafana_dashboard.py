"""ops/grafana/flashsale.json is a dashboard Grafana can import, every panel queries
Prometheus, and every flashsale metric it names is one the code exports: a panel on a
renamed or never-made metric would stay empty without a word.

The exported names are read from the source: the string given as the name to a call of
a Counter, Gauge or Histogram (``ray.util.metrics``, ``ray.serve.metrics``) or of a
helper named for one (``export_gauge``), directly or through a module-level constant.
Ray prefixes ``ray_`` to each; a counter gets ``_total`` (unless it ends so already), a
histogram ``_bucket``, ``_sum`` and ``_count``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "flashsale.json"
SOURCES = ("actors", "serve_app", "cluster", "ops")
KINDS = ("counter", "gauge", "histogram")
METRIC = re.compile(r"\bray_flashsale_[a-z0-9_]+")


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its own
    return [p for p in found if p.get("type") != "row"]


def _kind(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    kinds = [k for k in KINDS if k in name.lower()]
    return kinds[0] if len(kinds) == 1 else None


def _literal(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def defined_metrics() -> dict[str, str]:
    """flashsale metric name (as given to Ray) -> counter, gauge or histogram."""
    found: dict[str, str] = {}
    for package in SOURCES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            constants = {
                target.id: node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or (kind := _kind(node)) is None:
                    continue
                named = node.args[0] if node.args else None
                for keyword in node.keywords:
                    if keyword.arg in ("name", "metric_name"):
                        named = keyword.value
                name = _literal(named, constants)
                if name and name.startswith("flashsale_"):
                    found[name] = kind
    return found


def exported_series(defined: dict[str, str]) -> set[str]:
    """The Prometheus names Ray's export gives the metrics ``defined``."""
    series = set()
    for name, kind in defined.items():
        full = f"ray_{name}"
        if kind == "counter":
            series.add(full if full.endswith("_total") else f"{full}_total")
        elif kind == "histogram":
            series |= {f"{full}_bucket", f"{full}_sum", f"{full}_count"}
        else:
            series.add(full)
    return series


def _named_metrics(dashboard: dict[str, Any]) -> set[str]:
    texts = [t["expr"] for p in _panels(dashboard) for t in p["targets"]]
    texts += [json.dumps(v.get("query", "")) for v in dashboard["templating"]["list"]]
    return {m for text in texts for m in METRIC.findall(text)}


def test_the_dashboard_parses_with_a_prometheus_datasource_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    deal = variables["deal"]
    assert "label_values(ray_flashsale_shard_units, deal)" in json.dumps(deal["query"])
    assert deal["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_every_panel_has_a_promql_target_on_the_datasource() -> None:
    panels = _panels(_dashboard())
    assert len(panels) >= 11
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            # Balanced brackets: the cheapest proof that the text is a whole expression.
            expr = target["expr"]
            for opening, closing in ("()", "{}", "[]"):
                assert expr.count(opening) == expr.count(closing), (panel["title"], expr)


def test_the_source_scan_finds_metrics_of_each_kind() -> None:
    # The scan itself: if it found nothing, the next test would prove nothing.
    defined = defined_metrics()
    assert defined.get("flashsale_breaker_state") == "gauge"
    assert defined.get("flashsale_breaker_opened") == "counter"
    assert defined.get("flashsale_purchase_batch_size") == "histogram"


def test_every_flashsale_metric_on_the_dashboard_is_exported() -> None:
    exported = exported_series(defined_metrics())
    named = _named_metrics(_dashboard())
    assert named, "the dashboard names no flashsale metric"
    missing = sorted(named - exported)
    assert not missing, f"the dashboard names metrics no code exports: {missing}"
