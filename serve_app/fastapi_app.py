"""The FastAPI application: routers, error mapping and the body limit, around a Shop."""

from __future__ import annotations

from fastapi import FastAPI

from serve_app import storefront
from serve_app.body_limit import BodySizeLimit
from serve_app.bootstrap import Shop
from serve_app.contract import install_openapi
from serve_app.errors import install_error_handlers
from serve_app.routes import admin, auth, deals, orders, purchase, system


def create_api(shop: Shop) -> FastAPI:
    api = FastAPI(
        title="flashsale",
        version="1",
        description="A high-availability flash-sale shop on Ray. Errors are "
        '`{"error": {"code", "message"}}`.',
    )
    api.state.shop = shop
    # The page and its assets, read and compressed once per replica (serve_app/storefront.py).
    api.state.assets = storefront.Assets.load(shop.settings.cdn_base_url)
    install_error_handlers(api)
    install_openapi(api)
    # The purchase route first: Serve names the route of every request for its metrics
    # by trying the app's routes in order (~5 % of the replica's time under a burst
    # when the purchase route came after twenty others).
    for module in (purchase, system, auth, deals, orders, admin, storefront):
        api.include_router(module.router)
    api.add_middleware(BodySizeLimit, max_bytes=shop.settings.max_body_bytes)
    return api
