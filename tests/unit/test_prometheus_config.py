"""The local Prometheus scrapes what it must: Ray's nodes through the file-SD file Ray
writes, Serve's HAProxy exporter at its setting's port, and itself; Ray's dashboard is
pointed at it. Pure: the config is built from settings, nothing is started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ray._private import ray_constants

from cluster.local import stack
from cluster.local.prometheus import config_text, prometheus_config, ray_sd_file
from cluster.local.ray_head import RayHead
from cluster.settings import Settings, SettingsError

SECRET = {"FLASHSALE_JWT_SECRET": "x" * 32}


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({**SECRET, "FLASHSALE_STATE_DIR": str(tmp_path / "state"), **env})


def _job(config: dict[str, Any], name: str) -> dict[str, Any]:
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == name]
    return job


def _static_targets(job: dict[str, Any]) -> list[str]:
    return [t for group in job["static_configs"] for t in group["targets"]]


def test_ray_is_found_through_the_sd_file_in_the_heads_session(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    (sd,) = _job(prometheus_config(settings), "ray")["file_sd_configs"]
    expected = (
        RayHead(settings).temp_dir_path
        / "session_latest"
        / ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE
    )
    assert sd["files"] == [str(expected)] == [str(ray_sd_file(settings))]
    # Read again often: a restarted Ray is a new session with new ports.
    assert sd["refresh_interval"] == "10s"


def test_naming_the_sd_file_makes_no_directory(tmp_path: Path) -> None:
    prometheus_config(_settings(tmp_path))
    assert not (tmp_path / "state").exists()


def test_haproxy_is_scraped_at_its_metrics_port(tmp_path: Path) -> None:
    job = _job(prometheus_config(_settings(tmp_path)), "haproxy")
    assert _static_targets(job) == ["127.0.0.1:9101"]
    assert job["metrics_path"] == "/metrics"
    moved = _settings(tmp_path, FLASHSALE_HAPROXY_METRICS_PORT="9301")
    assert _static_targets(_job(prometheus_config(moved), "haproxy")) == ["127.0.0.1:9301"]


def test_prometheus_scrapes_every_10s_as_ray_exports(tmp_path: Path) -> None:
    settings = _settings(tmp_path, FLASHSALE_PROMETHEUS_PORT="9190")
    config = prometheus_config(settings)
    assert _static_targets(_job(config, "prometheus")) == ["127.0.0.1:9190"]
    assert config["global"]["scrape_interval"] == "10s"


def test_the_written_text_is_the_config(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert yaml.safe_load(config_text(settings)) == prometheus_config(settings)


def test_the_url_derives_from_the_port_unless_given(tmp_path: Path) -> None:
    assert _settings(tmp_path).prometheus_url == "http://127.0.0.1:9090"
    assert _settings(tmp_path, FLASHSALE_PROMETHEUS_PORT="9190").prometheus_url == (
        "http://127.0.0.1:9190"
    )
    given = _settings(tmp_path, PROMETHEUS_URL="http://metrics:9090")
    assert given.prometheus_url == "http://metrics:9090"
    assert "PROMETHEUS_URL" in given.given
    # Given, it is someone else's: not started or stopped here.
    assert "prometheus" not in {s.name for s in stack.local_services(given)}
    assert "prometheus" in {s.name for s in stack.local_services(_settings(tmp_path))}


def test_a_bad_url_or_a_taken_port_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PROMETHEUS_URL"):
        _settings(tmp_path, PROMETHEUS_URL="metrics:9090")
    with pytest.raises(SettingsError, match="must all differ"):
        _settings(tmp_path, FLASHSALE_PROMETHEUS_PORT="9101")


def test_rays_dashboard_queries_this_prometheus(tmp_path: Path) -> None:
    settings = _settings(tmp_path, FLASHSALE_PROMETHEUS_PORT="9190")
    assert RayHead(settings).ray_env()["RAY_PROMETHEUS_HOST"] == "http://127.0.0.1:9190"
