"""``build_app``: what the Serve config (and the RayService's serveConfigV2) names."""

from __future__ import annotations

import os
from typing import Any

from ray import serve
from ray.serve import Application

from actors.clock_actor import clock_handle
from actors.orders import publisher_handle
from actors.sink_actor import sink_handle
from cluster.gc_tuning import tune_gc
from cluster.settings import Settings
from serve_app.api import create_api
from serve_app.backends import Backends
from serve_app.routes.purchase import PurchaseFastPath


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000)
@serve.ingress()
class Storefront:
    """One ingress replica: owns its backends, builds its FastAPI app at start."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._backends = Backends(settings)
        # The order pipeline's actors and the clock run once per cluster; every replica
        # makes sure they exist.
        self._publisher = publisher_handle(settings)
        self._sink = sink_handle(settings)
        self._clock = clock_handle(settings)

    def __serve_build_asgi_app__(self) -> PurchaseFastPath:
        api = create_api(self._settings, self._backends)
        app = PurchaseFastPath(api, self._settings.max_body_bytes)
        tune_gc()
        return app

    async def __del__(self) -> None:
        await self._backends.close()


def build_app(args: dict[str, Any]) -> Application:
    """``args`` may hold ``code_version`` (set by the local bring-up to force a redeploy
    when the code changes); nothing else is read from it."""
    # The one place the app reads the environment: the Serve config's runtime_env (or
    # the KubeRay pod's env) carries the settings here, and they travel on as arguments.
    settings = Settings.from_env(os.environ)
    return Storefront.bind(settings)
