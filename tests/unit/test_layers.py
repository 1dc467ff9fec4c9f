"""The layering, checked on the source: who may import whom, who knows the Redis layout,
and who makes Ray calls (docs/design.md, "Where things live")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actors", "serve_app", "ops", "cluster", "bench")

# module prefix -> the project packages it may import (its own included). Checked in
# order: the first prefix that matches a module decides.
ALLOWED: list[tuple[str, tuple[str, ...]]] = [
    ("actors.domain", ("actors.domain",)),
    ("actors.ports", ("actors.domain",)),
    ("actors.adapters", ("actors.domain", "actors.ports", "actors.adapters")),
    ("actors.services", ("actors.domain", "actors.ports", "actors.services")),
    ("actors.supervise", ()),
    ("actors", ("actors", "cluster")),  # the actors and the gateway
    ("cluster.settings", ()),
    ("cluster", ("cluster",)),
    ("serve_app", ("actors", "cluster", "serve_app")),
    ("ops", ("actors", "cluster", "serve_app", "ops")),
    ("bench", ("actors", "cluster", "serve_app", "ops", "bench")),
]
PROJECT = {"actors", "serve_app", "ops", "cluster", "bench"}


def _modules() -> list[tuple[str, Path, ast.Module]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.append((name.removesuffix(".__init__"), path, ast.parse(path.read_text())))
    return found


MODULES = _modules()


def _imports(tree: ast.Module) -> list[str]:
    """Every module imported, at any depth (function-level imports count too)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _allowed(module: str) -> tuple[str, ...]:
    for prefix, allowed in ALLOWED:
        if module == prefix or module.startswith(prefix + "."):
            return allowed
    raise AssertionError(f"{module} is in no layer of ALLOWED")


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_rule_sees_the_modules() -> None:
    names = {name for name, _, _ in MODULES}
    assert {"actors.gateway", "actors.domain.ledger", "serve_app.app", "ops.cli"} <= names


@pytest.mark.parametrize(("module", "path", "tree"), MODULES, ids=[m for m, _, _ in MODULES])
def test_imports_flow_one_way(module: str, path: Path, tree: ast.Module) -> None:
    allowed = _allowed(module)
    wrong = sorted(
        {
            name
            for name in _imports(tree)
            if name.split(".")[0] in PROJECT and not _within(name, allowed)
        }
    )
    assert not wrong, f"{path.relative_to(ROOT)} may import only {allowed}, not {wrong}"


def test_the_domain_and_the_services_import_no_ray_and_no_driver() -> None:
    drivers = ("ray", "redis", "aiokafka", "aiomysql", "pymysql", "fastapi", "starlette")
    for module, path, tree in MODULES:
        if _within(module, ("actors.domain", "actors.services", "actors.ports")):
            used = [n for n in _imports(tree) if n.split(".")[0] in drivers]
            assert not used, f"{path.relative_to(ROOT)} imports {used}"


def test_only_adapters_know_the_redis_keys() -> None:
    for module, path, tree in MODULES:
        if _within(module, ("actors.adapters",)):
            continue
        used = [n for n in _imports(tree) if n.startswith("actors.adapters.redis_keys")]
        assert not used, f"{path.relative_to(ROOT)} reads the Redis layout: use an adapter"


def test_only_the_gateway_finds_or_kills_actors() -> None:
    banned = {"get_actor", "kill"}
    for module, path, tree in MODULES:
        if module == "actors.gateway":
            continue
        for node in ast.walk(tree):
            called = (
                isinstance(node, ast.Attribute)
                and node.attr in banned
                and isinstance(node.value, ast.Name)
                and node.value.id == "ray"
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "ray"
                and any(a.name in banned for a in node.names)
            )
            assert not called, (
                f"{path.relative_to(ROOT)}:{node.lineno} calls Ray's actor lookup: "
                "go through actors/gateway.py"
            )


def test_only_adapters_write_sql() -> None:
    """SQL lives in actors/adapters (and the schema's own migrations, in cluster/). The
    benchmark's baselines are what a shop would build instead of flashsale: SQL in the
    handler is their point, and they touch only a database of their own."""
    statement = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE)\s", re.IGNORECASE)
    for module, path, tree in MODULES:
        if _within(module, ("actors.adapters", "cluster", "bench.baselines")):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and statement.match(node.value)
                and node.value.strip() != "SELECT 1"  # the health probe's ping
            ):
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} writes SQL")
