"""serveConfigV2 as Ray Serve itself reads it: ray.serve.schema.ServeDeploySchema.

Ray's schema ignores keys it does not know, so a misspelt one would be dropped without a
word; ``unknown_keys`` walks the config along the same pydantic models and names them."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from ray.serve.config import AutoscalingConfig
from ray.serve.schema import ServeDeploySchema

from cluster import names
from kuberay import render

ROOT = Path(__file__).resolve().parents[2]


def _serve_config_v2() -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "kuberay" / "manifests" / "40-rayservice.yaml").read_text())
    (rayservice,) = [d for d in docs if d and d["kind"] == "RayService"]
    return yaml.safe_load(rayservice["spec"]["serveConfigV2"])


def _models(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models an annotation admits (through Optional, Union and List)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        return [m for arg in typing.get_args(annotation) for m in _models(arg)]
    return []


def unknown_keys(model: type[pydantic.BaseModel], data: Any, at: str = "") -> list[str]:
    if isinstance(data, list):
        return [k for i, item in enumerate(data) for k in unknown_keys(model, item, f"{at}[{i}]")]
    if not isinstance(data, dict):
        return []
    fields = model.model_fields
    names = {f.alias or n for n, f in fields.items()} | set(fields)
    found = [f"{at}.{key}".lstrip(".") for key in data if key not in names]
    for name, field in fields.items():
        if name in data:
            for sub in _models(field.annotation):
                found += unknown_keys(sub, data[name], f"{at}.{name}")
    return found


def test_serve_config_v2_is_a_valid_serve_deploy_config() -> None:
    config = _serve_config_v2()
    schema = ServeDeploySchema.model_validate(config)
    assert unknown_keys(ServeDeploySchema, config) == []
    (app,) = schema.applications
    assert app.import_path == "serve_app.app:build_app"
    (deployment,) = app.deployments
    autoscaling = AutoscalingConfig.model_validate(deployment.autoscaling_config)
    assert unknown_keys(AutoscalingConfig, deployment.autoscaling_config) == []
    assert 2 <= autoscaling.min_replicas <= autoscaling.max_replicas
    assert deployment.ray_actor_options.resources == {render.SLOT: 1, **names.WORKER_SLIVER}


def _deployment(config: dict[str, Any]) -> dict[str, Any]:
    return config["applications"][0]["deployments"][0]


def test_a_misspelt_key_is_found() -> None:
    config = _serve_config_v2()
    _deployment(config)["num_replicass"] = 3
    _deployment(config)["ray_actor_options"]["num_cpu"] = 0
    assert unknown_keys(ServeDeploySchema, config) == [
        "applications[0].deployments[0].num_replicass",
        "applications[0].deployments[0].ray_actor_options.num_cpu",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [("proxy_location", "Everywhere"), ("num_replicas", "lots")],
)
def test_a_bad_value_is_refused_by_ray(key: str, value: str) -> None:
    config = _serve_config_v2()
    (config if key == "proxy_location" else _deployment(config))[key] = value
    with pytest.raises(pydantic.ValidationError):
        ServeDeploySchema.model_validate(config)
