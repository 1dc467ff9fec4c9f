"""``make kuberay-check``: the manifests against a real control plane, built from Go modules.

etcd, kube-apiserver and the KubeRay operator are built from the pinned wrapper modules
in ``kuberay/controlplane/`` (binaries cached under ~/.cache/flashsale/controlplane, one
per go.sum, so a warm run builds nothing), started on loopback ports that nothing of
ours uses, the KubeRay CRDs installed from the operator's module; then every manifest
goes through ``kubectl apply --dry-run=server --validate=strict`` and is applied, and
the operator must create the RayCluster, its head Pod and head Service, with no Warning
event on the RayService. There is no kubelet: pods stay Pending, as expected. Everything
started is stopped at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "kuberay" / "controlplane"
MANIFESTS = ROOT / "kuberay" / "manifests"
SECRETS_EXAMPLE = ROOT / "kuberay" / "secrets.example.yaml"
NAMESPACE = "flashsale"
# Far from ours (6379, 6390, 3307, 8000, 8265, 8404, 9092-9093, 9101) and above the
# range Ray gives its workers (10002-19999).
ETCD_PORT, ETCD_PEER_PORT, APISERVER_PORT = 26379, 26380, 26443
OPERATOR_METRICS_PORT, OPERATOR_PROBE_PORT = 26081, 26082
# wrapper module -> (package to build, binary name)
BINARIES = {
    "etcd": ("go.etcd.io/etcd/server/v3", "etcd"),
    "apiserver": ("k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"),
    "operator": ("github.com/ray-project/kuberay/ray-operator", "kuberay-operator"),
}
BUILD_TIMEOUT_S = 3600
OPERATOR_TIMEOUT_S = 120
# Kubernetes' answer to an update of an object someone else changed first.
_CONFLICT = "the object has been modified; please apply your changes to the latest version"


def say(message: str) -> None:
    print(f"kuberay-check: {message}", flush=True)


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "flashsale" / "controlplane"


def go() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if found is None:
        raise SystemExit("kuberay-check: Go is needed (PATH or /usr/local/go/bin)")
    return found


def build(module: str) -> Path:
    """The binary of one wrapper module, built once per go.sum."""
    package, name = BINARIES[module]
    src = MODULES / module
    digest = hashlib.sha256((src / "go.mod").read_bytes() + (src / "go.sum").read_bytes())
    binary = cache_dir() / f"{name}-{digest.hexdigest()[:12]}"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    say(f"building {name} from {package} (cold: minutes; cached after)")
    started = time.monotonic()
    partial = binary.with_suffix(f".{os.getpid()}.partial")
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    subprocess.run(
        ["nice", "-n", "19", go(), "build", "-o", str(partial), package],
        cwd=src,
        env=env,
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    partial.replace(binary)
    say(f"built {name} in {time.monotonic() - started:.0f} s")
    return binary


def kubectl_binary() -> str:
    found = shutil.which("kubectl")
    if found is None:
        say("kubectl is missing: apt-get install kubectl")
        subprocess.run(["apt-get", "install", "-y", "kubectl"], check=True)
        found = shutil.which("kubectl")
    if found is None:
        raise SystemExit("kuberay-check: no kubectl")
    return found


def module_dir(module: str, path: str) -> Path:
    out = subprocess.run(
        [go(), "list", "-m", "-json", path],
        cwd=MODULES / module,
        env={**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(out.stdout)["Dir"])


def wait_until(check: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"kuberay-check: FAIL: {what} not within {timeout_s:g} s")
        time.sleep(0.5)


@contextmanager
def started(name: str, argv: list[str], log: Path, env: dict[str, str]) -> Iterator[None]:
    """Run one process for the duration; stop it (and only it) afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        say(f"stopped {name}")


class Kubectl:
    def __init__(self, binary: str, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise SystemExit(
                f"kuberay-check: FAIL: kubectl {' '.join(args)}\n{result.stdout}{result.stderr}"
            )
        return result

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("get", "-o", "json", *args).stdout)

    def ready(self) -> bool:
        return self.run("get", "--raw", "/readyz", check=False).returncode == 0


def certificates(work: Path) -> None:
    """The service-account signing key pair (the API server makes its own serving cert)."""
    subprocess.run(
        ["openssl", "genrsa", "-out", str(work / "sa.key"), "2048"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "rsa", "-in", str(work / "sa.key"), "-pubout", "-out", str(work / "sa.pub")],
        check=True,
        capture_output=True,
    )


def kubeconfig(work: Path, token: str) -> Path:
    path = work / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "check",
                "cluster": {
                    "server": f"https://127.0.0.1:{APISERVER_PORT}",
                    "insecure-skip-tls-verify": True,
                },
            }
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "check", "context": {"cluster": "check", "user": "admin"}}],
        "current-context": "check",
    }
    path.write_text(json.dumps(config))
    return path


def apiserver_argv(binary: Path, work: Path) -> list[str]:
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
        "--bind-address=127.0.0.1",
        f"--secure-port={APISERVER_PORT}",
        f"--cert-dir={work / 'certs'}",
        f"--token-auth-file={work / 'tokens.csv'}",
        "--authorization-mode=RBAC",
        f"--service-account-key-file={work / 'sa.pub'}",
        f"--service-account-signing-key-file={work / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-cluster-ip-range=10.96.0.0/16",
        # No controller-manager makes the namespaces' default ServiceAccounts here.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--profiling=false",
    ]


def check_manifests(k: Kubectl, files: list[Path]) -> None:
    k.run("apply", "-f", str(MANIFESTS / "00-namespace.yaml"))
    for path in files:
        k.run("apply", "--dry-run=server", "--validate=strict", "-f", str(path))
        say(f"ok   dry-run=server --validate=strict {path.relative_to(ROOT)}")
    for path in files:
        k.run("apply", "--validate=strict", "-f", str(path))
    say(f"applied {len(files)} files")


def operator_made_its_objects(k: Kubectl) -> None:
    clusters: list[dict[str, Any]] = []

    def cluster_made() -> bool:
        clusters[:] = k.get("rayclusters", "-n", NAMESPACE)["items"]
        return bool(clusters)

    wait_until(cluster_made, "a RayCluster of RayService flashsale", OPERATOR_TIMEOUT_S)
    if len(clusters) != 1:
        raise SystemExit(f"kuberay-check: FAIL: {len(clusters)} RayClusters, not one")
    name = clusters[0]["metadata"]["name"]
    owners = [o["name"] for o in clusters[0]["metadata"].get("ownerReferences", [])]
    if owners != ["flashsale"]:
        raise SystemExit(f"kuberay-check: FAIL: RayCluster {name} is owned by {owners}")
    say(f"ok   RayCluster {name} made by the operator for RayService flashsale")
    pods: list[dict[str, Any]] = []

    def head_made() -> bool:
        pods[:] = k.get(
            "pods", "-n", NAMESPACE, "-l", f"ray.io/cluster={name},ray.io/node-type=head"
        )["items"]
        return bool(pods)

    wait_until(head_made, "the head Pod", OPERATOR_TIMEOUT_S)
    pod = pods[0]
    containers = [c["name"] for c in pod["spec"]["containers"]]
    inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
    phase = pod.get("status", {}).get("phase")
    say(
        f"ok   head Pod {pod['metadata']['name']} (containers {containers}, init {inits}): "
        f"{phase}, as expected with no kubelet"
    )
    services: list[str] = []

    def head_service_made() -> bool:
        items = k.get("services", "-n", NAMESPACE, "-l", f"ray.io/cluster={name}")["items"]
        services[:] = [s["metadata"]["name"] for s in items]
        return any(s.endswith("head-svc") for s in services)

    wait_until(head_service_made, "the head Service", OPERATOR_TIMEOUT_S)
    say(f"ok   Services of the cluster: {', '.join(sorted(services))}")
    events = k.get(
        "events",
        "-n",
        NAMESPACE,
        "--field-selector",
        "involvedObject.kind=RayService,involvedObject.name=flashsale,type=Warning",
    )["items"]
    # Races inside the operator, harmless and seen now and then: a create that raced its
    # own cache (it made the cluster a moment before; the one RayCluster above is the
    # proof), and an update that lost Kubernetes' optimistic-concurrency check to
    # another writer of the same object (the operator requeues and writes again; CI,
    # 2026-12-07: FailedToUpdateHeadPodServeLabel on the head Pod). Neither says
    # anything about the manifests.
    raced = [
        e
        for e in events
        if (e["reason"] == "FailedToCreateRayCluster" and "already exists" in e["message"])
        or (e["reason"].startswith("FailedToUpdate") and _CONFLICT in e["message"])
    ]
    for e in raced:
        say(f"note a {e['reason']} Warning (a race inside the operator) is ignored")
    events = [e for e in events if e not in raced]
    if events:
        lines = "\n".join(f"  {e['reason']}: {e['message']}" for e in events)
        raise SystemExit(f"kuberay-check: FAIL: Warning events on the RayService:\n{lines}")
    say("ok   no Warning event on RayService flashsale")


def _broken(work: Path, name: str, source: str, old: str, new: str) -> Path:
    text = (MANIFESTS / source).read_text()
    if old not in text:
        raise SystemExit(f"kuberay-check: the broken case {name!r} is stale: no {old!r}")
    path = work / f"broken-{name}.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def the_checks_can_fail(k: Kubectl, work: Path) -> None:
    """Broken copies must be refused: by the API server, or by the operator."""
    refused = {
        "unknown-field": ("30-migrate.yaml", "  backoffLimit:", "  backofLimit:", "unknown field"),
        "bad-quantity": ("20-redis.yaml", "memory: 2Gi", "memory: 2GiB", "quantities must match"),
        "rayservice-unknown-field": (
            "40-rayservice.yaml",
            "  upgradeStrategy:\n",
            "  upgradeStrategie: {}\n  upgradeStrategy:\n",
            "unknown field",
        ),
    }
    for name, (source, old, new, message) in refused.items():
        path = _broken(work, name, source, old, new)
        result = k.run(
            "apply", "--dry-run=server", "--validate=strict", "-f", str(path), check=False
        )
        if result.returncode == 0 or message not in result.stderr:
            raise SystemExit(f"kuberay-check: FAIL: {name} was not refused:\n{result.stderr}")
        say(f"ok   refused by the API server: {name} ({message})")
    # A head service name passes the CRD schema; KubeRay's validation refuses it.
    path = _broken(
        work,
        "head-service-name",
        "40-rayservice.yaml",
        "  name: flashsale\n  namespace: flashsale\n",
        "  name: flashsale-broken\n  namespace: flashsale\n",
    )
    text = path.read_text().replace(
        "    headGroupSpec:\n",
        "    headGroupSpec:\n      headService:\n        metadata:\n          name: my-head\n",
        1,
    )
    path.write_text(text)
    k.run("apply", "--validate=strict", "-f", str(path))
    warnings: list[str] = []

    def warned() -> bool:
        items = k.get(
            "events",
            "-n",
            NAMESPACE,
            "--field-selector",
            "involvedObject.kind=RayService,involvedObject.name=flashsale-broken,type=Warning",
        )["items"]
        warnings[:] = [f"{e['reason']}: {e['message']}" for e in items]
        return any("headService" in w for w in warnings)

    wait_until(warned, "the operator's Warning on a RayService with a head service name", 60)
    say(f"ok   refused by the operator: head-service-name ({warnings[0][:100]})")
    k.run("delete", "-f", str(path), "--wait=false")


def main() -> int:
    started_at = time.monotonic()
    binaries = {module: build(module) for module in BINARIES}
    kubectl = kubectl_binary()
    crds = (
        module_dir("operator", "github.com/ray-project/kuberay/ray-operator") / "config/crd/bases"
    )
    files = [*sorted(MANIFESTS.glob("*.yaml")), SECRETS_EXAMPLE]
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kuberay-check-")))
        token = hashlib.sha256(os.urandom(32)).hexdigest()
        (work / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
        certificates(work)
        config = kubeconfig(work, token)
        k = Kubectl(kubectl, config)
        env = {**os.environ, "KUBECONFIG": str(config)}
        stack.enter_context(
            started(
                "etcd",
                [
                    str(binaries["etcd"]),
                    f"--data-dir={work / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{ETCD_PORT}",
                    f"--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}",
                    f"--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                    f"--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}",
                    f"--initial-cluster=default=http://127.0.0.1:{ETCD_PEER_PORT}",
                    "--log-level=warn",
                ],
                work / "etcd.log",
                env,
            )
        )
        stack.enter_context(
            started(
                "kube-apiserver",
                apiserver_argv(binaries["apiserver"], work),
                work / "apiserver.log",
                env,
            )
        )
        t0 = time.monotonic()
        try:
            wait_until(k.ready, "kube-apiserver /readyz", 120)
        except SystemExit:
            print((work / "apiserver.log").read_text()[-3000:])
            raise
        say(f"control plane ready in {time.monotonic() - t0:.1f} s (etcd, kube-apiserver v1.34.4)")
        k.run("apply", "--server-side", "-f", str(crds))
        for crd in ("rayclusters", "rayjobs", "rayservices"):
            k.run("wait", "--for=condition=Established", f"crd/{crd}.ray.io", "--timeout=60s")
        say(f"installed KubeRay's CRDs from {crds}")
        stack.enter_context(
            started(
                "kuberay-operator",
                [
                    str(binaries["operator"]),
                    f"--metrics-addr=127.0.0.1:{OPERATOR_METRICS_PORT}",
                    f"--health-probe-bind-address=127.0.0.1:{OPERATOR_PROBE_PORT}",
                    "--enable-leader-election=false",
                    "--log-stdout-encoder=console",
                ],
                work / "operator.log",
                env,
            )
        )
        try:
            check_manifests(k, files)
            t1 = time.monotonic()
            operator_made_its_objects(k)
            say(f"the operator acted in {time.monotonic() - t1:.1f} s")
            the_checks_can_fail(k, work)
        except SystemExit:
            print((work / "operator.log").read_text()[-4000:])
            raise
    say(f"all ok in {time.monotonic() - started_at:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
