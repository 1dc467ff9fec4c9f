"""The KubeRay manifests agree with the code they deploy: rendered from the one Serve
config, with the settings the Settings object knows, and the env `make up` runs Serve
with. The Go check (tests/deploy) holds them to the API types and KubeRay's validation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from cluster import names
from cluster.local.ray_head import RayHead
from cluster.ray_env import BACKGROUND_ENV
from cluster.settings import ENV_NAMES, Settings
from kuberay import new_secrets, render

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "kuberay" / "manifests"
SECRET_KEYS = {"FLASHSALE_JWT_SECRET", "REDIS_URL", "MYSQL_DSN", "KAFKA_BOOTSTRAP"}


def _docs(*paths: Path) -> list[dict[str, Any]]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]


def _all() -> list[dict[str, Any]]:
    return _docs(*sorted(MANIFESTS.glob("*.yaml")))


def _one(kind: str, name: str, docs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    (found,) = [d for d in (docs or _all()) if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _rayservice() -> dict[str, Any]:
    return _one("RayService", "flashsale")


def _ray_containers() -> list[dict[str, Any]]:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [g["template"]["spec"]["containers"][0] for g in groups]


def test_the_committed_manifests_are_rendered_from_the_current_sources() -> None:
    stale = render.stale(render.render())
    assert not stale, f"run `python -m kuberay.render`: stale {stale}"


def test_serve_config_v2_is_the_repo_serve_config_with_the_cluster_changes_only() -> None:
    embedded = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])
    local = yaml.safe_load((ROOT / "cluster" / "serve_config.yaml").read_text())
    assert embedded["http_options"] == local["http_options"]
    assert embedded["proxy_location"] == "EveryNode"
    (app,) = embedded["applications"]
    (local_app,) = local["applications"]
    for key in ("name", "route_prefix", "import_path", "logging_config"):
        assert app[key] == local_app[key]
    (deployment,) = app["deployments"]
    assert "num_replicas" not in deployment
    assert deployment["autoscaling_config"]["min_replicas"] >= 2
    assert deployment["ray_actor_options"]["resources"] == {render.SLOT: 1, **names.WORKER_SLIVER}


def test_the_head_runs_no_cpu_work_and_replicas_ask_for_worker_slots() -> None:
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert cluster["enableInTreeAutoscaling"] is True
    (workers,) = cluster["workerGroupSpecs"]
    assert render.SLOT in workers["rayStartParams"]["resources"]
    assert 2 <= workers["minReplicas"] <= workers["replicas"] <= workers["maxReplicas"]


def test_a_worker_offers_the_replicas_its_cores_carry_and_the_group_holds_serves_max() -> None:
    """docs/scaling.md: a replica at its plan rate keeps ~1.2 cores busy, so a 4-CPU
    node carries ~2.2; more slots than that let the autoscaler overpack a node, and
    fewer slots in all than Serve's max_replicas leave replicas nowhere to go."""
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    (workers,) = cluster["workerGroupSpecs"]
    slots = json.loads(json.loads(workers["rayStartParams"]["resources"]))[render.SLOT]
    (container,) = workers["template"]["spec"]["containers"]
    cpus = float(container["resources"]["requests"]["cpu"])
    assert slots <= cpus / 1.2 + 0.5, f"{slots} replica slots on {cpus:g} CPUs"
    (app,) = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])["applications"]
    (deployment,) = app["deployments"]
    assert slots * workers["maxReplicas"] >= deployment["autoscaling_config"]["max_replicas"]


def test_ray_pods_run_serve_in_haproxy_mode_as_make_up_does() -> None:
    source = (ROOT / "cluster" / "local" / "ray_head.py").read_text()
    local = set(re.findall(r'"(RAY_SERVE_[A-Z_]+|RAY_USAGE_STATS_ENABLED)"', source))
    # The mode, not the placement: make up moves HAProxy's files under its state dir and
    # picks ports that fit beside everything else on one machine; a pod has its own.
    local -= {n for n in local if n.endswith(("_LOC", "_PATH", "_BASE", "_FILE", "_PORT"))}
    assert local, "no Serve env found in ray_head.py: has it moved?"
    for container in _ray_containers():
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert local <= set(env), local - set(env)
        assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
        refs = {(r.get("configMapRef") or r.get("secretRef"))["name"] for r in container["envFrom"]}
        assert refs == {"flashsale-settings", "flashsale-secrets"}


def test_rays_background_is_paced_in_the_pods_as_make_up_paces_it(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"FLASHSALE_JWT_SECRET": "s" * 32, "FLASHSALE_STATE_DIR": str(tmp_path)}
    )
    local = RayHead(settings).ray_env()
    assert {k: local[k] for k in BACKGROUND_ENV} == BACKGROUND_ENV
    for container in _ray_containers():
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {k: env.get(k) for k in BACKGROUND_ENV} == BACKGROUND_ENV


def test_upgrades_make_a_new_cluster_and_the_gcs_keeps_its_own_redis() -> None:
    spec = _rayservice()["spec"]
    assert spec["upgradeStrategy"]["type"] == "NewCluster"
    ft = spec["rayClusterConfig"]["gcsFaultToleranceOptions"]
    assert ft["redisAddress"].startswith("redis-gcs.")
    # Each cluster its own storage namespace (KubeRay's default, the cluster's uid).
    assert "externalStorageNamespace" not in ft


def test_the_settings_config_map_holds_only_settings_that_exist_and_are_valid() -> None:
    data = _one("ConfigMap", "flashsale-settings")["data"]
    assert set(data) <= set(ENV_NAMES), set(data) - set(ENV_NAMES)
    assert not set(data) & SECRET_KEYS, "secrets belong in the Secret"
    assert not [k for k in data if k.endswith("_PORT") or k == "FLASHSALE_STATE_DIR"]
    example = _one("Secret", "flashsale-secrets", _docs(ROOT / "kuberay" / "secrets.example.yaml"))
    env = {**data, **example["stringData"]}
    settings = Settings.from_env(env)
    assert settings.given == {"REDIS_URL", "MYSQL_DSN", "KAFKA_BOOTSTRAP"}
    assert settings.mysql().host == "mariadb.flashsale.svc.cluster.local"


def test_generated_secrets_have_the_example_shape_and_fresh_values() -> None:
    example = _docs(ROOT / "kuberay" / "secrets.example.yaml")
    first, second = new_secrets.generate(), new_secrets.generate()
    shape = {(d["metadata"]["name"], tuple(sorted(d["stringData"]))) for d in example}
    assert {(d["metadata"]["name"], tuple(sorted(d["stringData"]))) for d in first} == shape
    assert (
        first[0]["stringData"]["FLASHSALE_JWT_SECRET"]
        != (second[0]["stringData"]["FLASHSALE_JWT_SECRET"])
    )
    by_name = {d["metadata"]["name"]: d["stringData"] for d in first}
    dsns = by_name["flashsale-secrets"]
    assert f":{by_name['flashsale-redis']['password']}@" in dsns["REDIS_URL"]
    assert f":{by_name['flashsale-mariadb']['password']}@" in dsns["MYSQL_DSN"]
    Settings.from_env({**dsns})


def test_redis_keeps_every_acknowledged_write_on_its_own_volume() -> None:
    redis = _one("StatefulSet", "redis")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["--appendonly"] == "yes"
    assert pairs["--appendfsync"] == "always"  # as cluster/local/redis_server.py
    assert pairs["--maxmemory-policy"] == "noeviction"
    assert [c["metadata"]["name"] for c in redis["spec"]["volumeClaimTemplates"]] == ["data"]


def test_only_the_shops_pods_reach_the_data_services() -> None:
    docs = _all()
    policy = _one("NetworkPolicy", "data-services-from-ray-only", docs)
    data_label = policy["spec"]["podSelector"]["matchLabels"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    client_label = peer["podSelector"]["matchLabels"]
    for name in ("redis", "redis-gcs", "mariadb", "kafka"):
        labels = _one("StatefulSet", name, docs)["spec"]["template"]["metadata"]["labels"]
        assert data_label.items() <= labels.items(), name
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]
    templates.append(_one("Job", "flashsale-migrate", docs)["spec"]["template"])
    for template in templates:
        assert client_label.items() <= template["metadata"]["labels"].items()


def test_the_migration_job_and_the_head_run_the_prepare_step() -> None:
    job = _one("Job", "flashsale-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "kuberay.prepare"]
    head = _rayservice()["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    (wait,) = head["initContainers"]
    assert wait["command"][:4] == ["python", "-m", "kuberay.prepare", "--wait"]
    assert wait["image"] == container["image"] == _ray_containers()[0]["image"]
