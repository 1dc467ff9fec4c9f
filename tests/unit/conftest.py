"""Unit tests are pure: no Ray, no network. Any attempt to start Ray fails loudly."""

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("unit tests must not start or connect to Ray")

    monkeypatch.setattr(ray, "init", refuse)
