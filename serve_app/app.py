"""``build_app``: what the Serve config (and the RayService's serveConfigV2) names."""

from __future__ import annotations

import logging
import logging.handlers
import os
from typing import Any

from ray import serve
from ray.serve import Application

from actors.adapters.breakers import MYSQL, REDIS
from actors.gateway import ensure_singletons
from actors.observability import watch_breakers
from cluster.gc_tuning import tune_gc
from cluster.settings import Settings
from serve_app.backends import Backends
from serve_app.bootstrap import build_shop
from serve_app.fast_path import PurchaseFastPath
from serve_app.fastapi_app import create_api


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000)
@serve.ingress()
class Storefront:
    """One ingress replica: owns its backends, builds its FastAPI app at start."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        log_into_serve()
        watch_breakers(settings, "replica", (REDIS, MYSQL))
        self._backends = Backends(settings)
        ensure_singletons(settings)

    def __serve_build_asgi_app__(self) -> PurchaseFastPath:
        shop = build_shop(self._settings, self._backends)
        app = PurchaseFastPath(create_api(shop), shop)
        tune_gc()
        return app

    async def __del__(self) -> None:
        await self._backends.close()


def log_into_serve() -> None:
    """The app's own loggers (``flashsale.*``) write where Serve's do: the replica's
    log file under the session's logs/serve, with Serve's request id. Serve configures
    only its own logger (``ray.serve``, not propagating), so ours had no handler and a
    ``logger.exception`` from a replica reached no log file.

    Serve's handler buffers records (1000 of them under RAY_SERVE_THROUGHPUT_OPTIMIZED,
    flushed early only by an ERROR): a replica's warnings, each the cause of a 503,
    stayed in memory where no operator could read them. Ours go to the same file
    through the same filters, one record at a time."""
    serve_logger = logging.getLogger("ray.serve")
    handlers: list[logging.Handler] = []
    for handler in serve_logger.handlers:
        if isinstance(handler, logging.handlers.MemoryHandler) and handler.target is not None:
            unbuffered = logging.handlers.MemoryHandler(capacity=1, target=handler.target)
            for kept in handler.filters:
                unbuffered.addFilter(kept)
            handler = unbuffered
        handlers.append(handler)
    app_logger = logging.getLogger("flashsale")
    app_logger.handlers = handlers
    app_logger.setLevel(logging.INFO)
    app_logger.propagate = False


def build_app(args: dict[str, Any]) -> Application:
    """``args`` may hold ``code_version`` (set by the local bring-up to force a redeploy
    when the code changes); nothing else is read from it."""
    # The one place the app reads the environment: the Serve config's runtime_env (or
    # the KubeRay pod's env) carries the settings here, and they travel on as arguments.
    settings = Settings.from_env(os.environ)
    return Storefront.bind(settings)
