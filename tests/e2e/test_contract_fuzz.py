"""Schemathesis, a tool no one here wrote, holds the running shop to its OpenAPI.

Every operation, every check (server errors, undocumented statuses, headers and bodies,
schema-valid requests refused, schema-violating ones accepted, auth ignored, ...), all
four phases including the stateful one that chains a created deal into purchases and an
order into pay/cancel: once with a buyer's token and once with an admin's. The two
overrides it runs with are in schemathesis.toml next to this file, each with its reason.
Afterwards the audit of every deal is clean.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import names
from cluster.settings import Settings
from tests.e2e.api_client import token
from tests.random_refs import suffix
from tests.serve_logs import ReplicaLogs

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Enough to cover every operation in every phase (about 800 requests a run) while the
# whole e2e layer stays within minutes on two cores.
MAX_EXAMPLES = 30


def schemathesis(stack: Settings, bearer: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("schemathesis")
    return subprocess.run(
        [
            str(cli),
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"http://127.0.0.1:{stack.http_port}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {bearer}",
            "--max-examples",
            str(MAX_EXAMPLES),
            # The shop's own bound (serve_config.yaml request_timeout_s): a deal that
            # starts at once with dozens of shards starts a process each before it
            # answers, which took just over 10 s on two loaded cores.
            "--request-timeout",
            "30",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def retire_fuzzed_shards(ray_driver: None) -> Iterator[None]:
    """The stateful phase opens deals and buys from them: stop the shard actors it started
    (each is a process), as the deal clock would once those deals end."""
    import ray
    from ray.util.state import list_actors

    def shards() -> set[str]:
        alive = list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)
        return {a["name"] for a in alive if a["class_name"] == "StockShard"}

    before = shards()
    yield
    for name in shards() - before:
        try:
            ray.kill(ray.get_actor(name, namespace=names.NAMESPACE))
        except ValueError:
            pass  # gone already


@pytest.mark.timeout(900)
@pytest.mark.usefixtures("retire_fuzzed_shards")
@pytest.mark.parametrize("role", ["buyer", "admin"])
def test_schemathesis_finds_nothing(stack: Settings, role: str) -> None:
    logs = ReplicaLogs(stack)
    # A fresh user per run: the per-user rate limit is not what this test is about.
    done = schemathesis(stack, token(stack, f"fuzz-{role}-{suffix()}", role=role))
    # Its own summary (seed included) stays in the test output either way.
    print(done.stdout[-3000:])
    # A failure's cause first: a 5xx's exception, as the replica logged it.
    assert done.returncode == 0, (
        "\n".join(["replicas logged:", *logs.since(), "schemathesis said:", done.stdout[-12000:]])
        + done.stderr[-2000:]
    )
    assert " passed" in done.stdout and "Stateful" in done.stdout, done.stdout[-3000:]


@pytest.mark.timeout(300)
def test_the_audit_is_clean_after_the_fuzzing(stack: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "audit", "--wait", "90"],
        env={**os.environ, **stack.to_env()},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("I1", "I2", "I3", "I4", "I5"):
        assert f"{name} ok" in done.stdout, done.stdout
