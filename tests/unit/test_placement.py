"""Where replicas and actors may run: one Ray resource, offered by worker nodes only
(locally with NODES > 1, and by the RayService's worker group), asked by all of them."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import yaml

from actors import gateway
from cluster import names
from cluster.local import ray_workers
from cluster.local.ray_head import SERVE_CONFIG

ROOT = Path(__file__).resolve().parents[2]


def test_the_storefront_replicas_ask_for_the_worker_resource() -> None:
    config = yaml.safe_load(SERVE_CONFIG.read_text())
    for app in config["applications"]:
        for deployment in app["deployments"]:
            asked = deployment["ray_actor_options"]["resources"]
            assert asked == names.WORKER_SLIVER, deployment["name"]


def test_shards_and_singletons_ask_for_it() -> None:
    source = inspect.getsource(gateway)
    assert source.count("resources=names.WORKER_SLIVER") == 2  # shard_handle, _singleton


def test_shards_are_spread_over_the_nodes_that_offer_it() -> None:
    source = inspect.getsource(gateway.shard_handle)
    assert 'scheduling_strategy="SPREAD"' in source


def test_local_worker_nodes_offer_it() -> None:
    assert json.loads(ray_workers.WORKER_RESOURCES) == {names.WORKER_RESOURCE: 10_000}


def test_the_rayservice_offers_it_on_workers_only() -> None:
    docs = yaml.safe_load_all((ROOT / "kuberay/manifests/40-rayservice.yaml").read_text())
    (service,) = [d for d in docs if d and d.get("kind") == "RayService"]
    cluster = service["spec"]["rayClusterConfig"]
    head = cluster["headGroupSpec"]["rayStartParams"]
    assert names.WORKER_RESOURCE not in head.get("resources", "")
    for group in cluster["workerGroupSpecs"]:
        offered = json.loads(json.loads(group["rayStartParams"]["resources"]))
        assert offered[names.WORKER_RESOURCE] >= 1, group["groupName"]
