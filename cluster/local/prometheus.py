"""Prometheus from Debian's prometheus package, on loopback: it keeps Ray's metrics
(flashsale's own ``ray_flashsale_*`` among them) and HAProxy's, so that the Ray
dashboard's charts and ``ops/grafana/flashsale.json`` have a history to read.

Ray exports each node's metrics on ports it picks at start, and its dashboard lists
them every 5 s in a file-SD file in the session dir; Prometheus reads that file rather
than fixed targets, so worker nodes and a restarted Ray (new ports) are found without
a restart of Prometheus. The config is generated from the settings by a pure function
(``prometheus_config``) so that a unit test can hold it to the ports it must scrape.
"""

from __future__ import annotations

import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from cluster.local.installs import which
from cluster.local.procs import log, port_open, spawn
from cluster.local.ray_head import RayHead
from cluster.local.service import LocalService
from cluster.settings import Settings

# Ray's name for it (ray._private.ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE).
RAY_SD_FILE = "prom_metrics_service_discovery.json"
# Ray's agents export every 10 s: scraping them more often costs their node's CPU (the
# agent renders every series per scrape) and adds no new point.
SCRAPE_INTERVAL = "10s"
# Short: this is a look at the last runs and drills, not an archive. The size cap keeps
# a machine left up for days from filling its disk with histogram buckets.
RETENTION_TIME = "2d"
RETENTION_SIZE = "1GB"


def ray_sd_file(settings: Settings) -> Path:
    """The file-SD file of the Ray head this machine runs.

    Ray 2.60 writes it in the session dir and links ``<temp dir>/<file>`` to it for
    configs of older Rays. ``session_latest`` follows each new session, as that link
    does; it names where the file really is."""
    return RayHead(settings).temp_dir_path / "session_latest" / RAY_SD_FILE


def prometheus_config(settings: Settings) -> dict[str, Any]:
    """The whole ``prometheus.yml``: Ray's nodes, Serve's HAProxy, and Prometheus."""
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": "ray",
                "file_sd_configs": [
                    {
                        "files": [str(ray_sd_file(settings))],
                        # Prometheus also watches the file's directory, but that watch
                        # is on the session Ray had when it was set (or on nothing, if
                        # Ray had not started): a Ray restart is seen on the next read.
                        "refresh_interval": SCRAPE_INTERVAL,
                    }
                ],
            },
            {
                "job_name": "haproxy",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{settings.haproxy_metrics_port}"]}],
            },
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{settings.prometheus_port}"]}],
            },
        ],
    }


def config_text(settings: Settings) -> str:
    return yaml.safe_dump(prometheus_config(settings), sort_keys=False)


class PrometheusServer(LocalService):
    name = "prometheus"

    @property
    def config_file(self) -> Path:
        return self.home / "prometheus.yml"

    def healthy(self) -> bool:
        if not port_open("127.0.0.1", self.settings.prometheus_port):
            return False
        url = f"http://127.0.0.1:{self.settings.prometheus_port}/-/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _write_config(self) -> bool:
        """Write the config; True if it changed."""
        text = config_text(self.settings)
        if self.config_file.exists() and self.config_file.read_text() == text:
            return False
        self.config_file.write_text(text)
        return True

    def _launch(self) -> None:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        self._write_config()
        spawn(
            [
                which("prometheus") or "prometheus",
                f"--config.file={self.config_file}",
                f"--web.listen-address=127.0.0.1:{self.settings.prometheus_port}",
                f"--storage.tsdb.path={data}",
                f"--storage.tsdb.retention.time={RETENTION_TIME}",
                f"--storage.tsdb.retention.size={RETENTION_SIZE}",
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )

    def _after_start(self) -> None:
        # A running Prometheus and changed ports (`make up` with other settings): it
        # rereads its config on SIGHUP, keeping its data and process.
        pid = self.pid()
        if self._write_config() and pid is not None:
            log("reloading prometheus's config")
            os.kill(pid, signal.SIGHUP)
