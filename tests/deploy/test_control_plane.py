"""`make kuberay-check` in `make test`: the committed manifests against a real
kube-apiserver and the real KubeRay operator, built from Go modules (a cold build is
the slow part of a fresh machine's first run; kuberay/control_plane_check.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kuberay.control_plane_check import ROOT


@pytest.mark.timeout(3600)
def test_the_operator_accepts_the_manifests_and_makes_the_ray_cluster() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kuberay.control_plane_check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3500,
        check=False,
    )
    print(done.stdout[-4000:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
