"""The FastAPI application: routers, error mapping and limits, around a replica's backends."""

from __future__ import annotations

from fastapi import FastAPI

from cluster.settings import Settings
from serve_app.backends import Backends
from serve_app.errors import install_error_handlers
from serve_app.limits import BodySizeLimit
from serve_app.routes import system


def create_api(settings: Settings, backends: Backends) -> FastAPI:
    api = FastAPI(
        title="flashsale",
        version="1",
        description="A high-availability flash-sale shop on Ray. Errors are "
        '`{"error": {"code", "message"}}`.',
    )
    api.state.settings = settings
    api.state.backends = backends
    install_error_handlers(api)
    api.include_router(system.router)
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return api
