"""Install what the local stack needs, only when it is missing.

Debian packages for Redis, MariaDB, Prometheus and wrk; the Kafka broker's jars from
Maven Central through the small pom next to this file. Each check is a file test, so a
warm machine pays nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from cluster.local.procs import BringUpError, log, run

# binary that proves the package is there -> Debian package
APT_PACKAGES = {
    "redis-server": "redis-server",
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
    "wrk": "wrk",
    # /usr/bin/prometheus; its postinst would start the system-wide one on 9090, which
    # the policy-rc.d below forbids (we run our own, cluster/local/prometheus.py)
    "prometheus": "prometheus",
    # the browser tests' Chromium (tests/browser): Playwright cannot download its own here
    "chromium": "chromium",
}
SBIN_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin")
POM = Path(__file__).parent / "maven" / "pom.xml"


def which(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = Path(directory) / binary
        if candidate.exists():
            return str(candidate)
    return None


def ensure_apt_packages() -> None:
    missing = sorted({pkg for binary, pkg in APT_PACKAGES.items() if which(binary) is None})
    if not missing:
        return
    log(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Debian's maintainer scripts would start the system-wide servers on their default
    # ports; the stack runs its own copies, so forbid service starts during the install.
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        created_policy = True
    try:
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
    finally:
        if created_policy:
            policy.unlink(missing_ok=True)
    still = [binary for binary in APT_PACKAGES if which(binary) is None]
    if still:
        raise BringUpError(f"installed {missing} but still missing: {still}")


def kafka_libs() -> Path:
    """The broker's classpath directory, resolved once per version of the pom."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    cache = Path(os.path.expanduser("~/.cache/flashsale")) / f"kafka-libs-{digest}"
    done = cache / ".complete"
    if done.exists():
        return cache
    if shutil.which("mvn") is None:
        raise BringUpError("Maven (mvn) is needed to fetch the Kafka broker's jars")
    log("fetching the Kafka broker's jars from Maven Central")
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
        ]
    )
    if not any(tmp.glob("kafka_2.13-*.jar")):
        raise BringUpError(f"mvn ran but no kafka_2.13 jar landed in {tmp}")
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    done.write_text("ok\n")
    return cache
