"""The manifests pass kuberay/check (the real API types and KubeRay's own validation),
and the check fails on the faults it exists for: each broken copy must be refused.

The checker is built once per change of its source into ~/.cache/flashsale/ (Go's
build cache is outside the repo too): cold, a few CPU minutes for the Kubernetes and
KubeRay packages; warm, no build at all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK_SRC = ROOT / "kuberay" / "check"
MANIFESTS = ROOT / "kuberay" / "manifests"
SECRETS_EXAMPLE = ROOT / "kuberay" / "secrets.example.yaml"
BUILD_TIMEOUT_S = 1800

# Building the Kubernetes packages cold takes minutes on two busy cores.
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT_S + 120)


def _go() -> str:
    found = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail("Go is needed for kuberay/check: not on PATH nor in /usr/local/go/bin")
    return found


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "flashsale"


def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([*CHECK_SRC.glob("*.go"), CHECK_SRC / "go.mod", CHECK_SRC / "go.sum"]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def checker() -> Path:
    binary = _cache_dir() / f"kuberay-check-{_source_digest()}"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}.partial")
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    started = time.monotonic()
    # nice: the build must not starve whatever else shares the machine's cores.
    built = subprocess.run(
        ["nice", "-n", "19", _go(), "build", "-o", str(partial), "."],
        cwd=CHECK_SRC,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"building kuberay/check failed:\n{built.stdout}{built.stderr}")
    partial.replace(binary)
    print(f"built kuberay/check in {time.monotonic() - started:.0f} s -> {binary}")
    return binary


def run_check(checker: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker), *map(str, paths)], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_committed_manifests_pass(checker: Path) -> None:
    result = run_check(checker, MANIFESTS, SECRETS_EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all ok" in result.stdout
    for kind_name in ("RayService flashsale", "Job flashsale-migrate", "NetworkPolicy"):
        kind, _, name = kind_name.partition(" ")
        assert any(
            line.startswith("ok") and kind in line and name in line
            for line in result.stdout.splitlines()
        ), result.stdout


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    copy = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy)
    shutil.copy(SECRETS_EXAMPLE, copy / SECRETS_EXAMPLE.name)
    target = copy / file
    text = target.read_text()
    assert old in text, f"{old!r} is not in {file}: the test case is stale"
    target.write_text(text.replace(old, new, 1))
    return copy


RAYSERVICE = "40-rayservice.yaml"
BROKEN = {
    "an unknown field": (
        RAYSERVICE,
        "  upgradeStrategy:\n",
        "  upgradeStrategie: {}\n  upgradeStrategy:\n",
        'unknown field "spec.upgradeStrategie"',
    ),
    "an unknown field in a core kind": (
        "30-migrate.yaml",
        "  backoffLimit:",
        "  backofLimit:",
        'unknown field "spec.backofLimit"',
    ),
    "a misspelt field (case counts)": (
        "20-redis.yaml",
        "  serviceName: redis",
        "  servicename: redis",
        'unknown field "spec.servicename"',
    ),
    "a bad quantity": (
        "20-redis.yaml",
        "memory: 2Gi",
        "memory: 2GiB",
        "quantities must match the regular expression",
    ),
    "a bad quantity in the RayService": (
        RAYSERVICE,
        "memory: 8Gi",
        "memory: 8 gigs",
        "quantities must match the regular expression",
    ),
    "a head service name": (
        RAYSERVICE,
        "    headGroupSpec:\n",
        "    headGroupSpec:\n      headService:\n        metadata:\n          name: flashsale-head\n",
        "headService.metadata.name should not be set",
    ),
    "a duplicate key": (
        RAYSERVICE,
        "  rayClusterDeletionDelaySeconds: 60\n",
        "  rayClusterDeletionDelaySeconds: 60\n  rayClusterDeletionDelaySeconds: 30\n",
        'key "rayClusterDeletionDelaySeconds" already set',
    ),
    "an invalid RayService name": (
        RAYSERVICE,
        "  name: flashsale\n  namespace: flashsale\n",
        "  name: flash_sale\n  namespace: flashsale\n",
        "RayService name should be a valid DNS1035 label",
    ),
    "an unknown upgrade strategy": (
        RAYSERVICE,
        "    type: NewCluster",
        "    type: RollingUpdate",
        "Spec.UpgradeStrategy.Type value RollingUpdate is invalid",
    ),
    "a Redis password beside gcsFaultToleranceOptions": (
        RAYSERVICE,
        "        num-cpus: '0'\n",
        "        num-cpus: '0'\n        redis-password: hunter2\n",
        "cannot set `redis-password` in rayStartParams",
    ),
    "a Secret that does not exist": (
        RAYSERVICE,
        "name: flashsale-redis-gcs",
        "name: flashsale-redis-gsc",
        "Secret flashsale/flashsale-redis-gsc is referred to but not in the set",
    ),
    "a NetworkPolicy that selects nothing": (
        "50-network-policy.yaml",
        "flashsale.io/tier: data",
        "flashsale.io/tier: database",
        "podSelector flashsale.io/tier=database matches no pod template in the set",
    ),
    "worker bounds the wrong way round": (
        RAYSERVICE,
        "      minReplicas: 2\n",
        "      minReplicas: 9\n",
        "minReplicas 9 > maxReplicas 8",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_a_broken_manifest_is_refused(checker: Path, tmp_path: Path, case: str) -> None:
    file, old, new, message = BROKEN[case]
    result = run_check(checker, _broken_copy(tmp_path, file, old, new))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout
    assert message in result.stdout, result.stdout
