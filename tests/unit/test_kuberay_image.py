"""The image (kuberay/Dockerfile) cannot be built here; what can be checked is that it
runs the Ray and Python that pyproject.toml pins and the tests run on."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from kuberay import render

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "kuberay" / "Dockerfile").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _ray_requirement() -> Requirement:
    (ray,) = [r for r in map(Requirement, PROJECT["dependencies"]) if r.name == "ray"]
    return ray


def test_the_image_is_rays_own_for_the_pinned_ray_and_python() -> None:
    version = render.ray_version()
    assert version in _ray_requirement().specifier, (version, str(_ray_requirement()))
    assert version == metadata.version("ray"), "the image and the tests must run one Ray"
    (base,) = re.findall(r"^FROM (\S+)$", DOCKERFILE, re.MULTILINE)
    python = re.fullmatch(r"rayproject/ray:\$\{RAY_VERSION\}-py(\d)(\d+)", base)
    assert python, base
    major_minor = f"{python.group(1)}.{python.group(2)}"
    assert major_minor + ".0" in SpecifierSet(PROJECT["requires-python"])


def test_the_image_installs_the_project_with_ray_held_to_its_own() -> None:
    assert re.search(r"pip install .*-c /tmp/constraints.txt \.", DOCKERFILE)
    assert 'echo "ray==${RAY_VERSION}"' in DOCKERFILE
    for package in ("actors", "serve_app", "cluster", "ops"):
        assert f"COPY --chown=ray:users {package} {package}" in DOCKERFILE
    # The migration Job and the head's init container run kuberay.prepare from the image.
    assert "kuberay/prepare.py" in DOCKERFILE


def test_the_manifests_run_the_image_of_this_version() -> None:
    tag = f"flashsale:{PROJECT['version']}"
    assert render.image() == tag
    for name in ("30-migrate.yaml", "40-rayservice.yaml"):
        text = (ROOT / "kuberay" / "manifests" / name).read_text()
        assert re.findall(r"image: (\S+)", text) and set(re.findall(r"image: (\S+)", text)) == {tag}
    assert (
        f"rayVersion: {render.ray_version()}"
        in (ROOT / "kuberay" / "manifests" / "40-rayservice.yaml").read_text()
    )
