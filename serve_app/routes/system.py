"""Server time (for countdowns) and the health of every part."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serve_app.deps import ShopDep
from serve_app.errors import error_body
from serve_app.health import check_all
from serve_app.timefmt import iso

router = APIRouter()


@router.get(
    "/api/time",
    summary="Server time, for countdowns synced to the server",
    operation_id="serverTime",
)
async def server_time() -> dict[str, object]:
    now = time.time()
    return {"now": iso(now), "epoch_ms": int(now * 1000)}


@router.get(
    "/api/config",
    summary="The settings a buyer's page needs (e.g. the payment window)",
    operation_id="publicConfig",
)
async def public_config(shop: ShopDep) -> dict[str, float]:
    settings = shop.settings
    return {
        "payment_timeout_s": settings.payment_timeout_s,
        "preheat_lead_s": settings.preheat_lead_s,
        "rate_limit_per_user": settings.rate_limit_per_user,
    }


@router.get(
    "/healthz",
    summary="200 when Redis, MySQL, Kafka and Ray all answer; else 503 naming what is down",
    operation_id="healthz",
    responses={
        503: {
            "description": "`unavailable`: the same `parts`, the failing ones `{state: down, error}`",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": ["status", "parts", "error"]}
                }
            },
        }
    },
)
async def healthz(shop: ShopDep) -> JSONResponse:
    parts = await check_all(shop.backends)
    down = sorted(name for name, part in parts.items() if part["state"] != "up")
    if not down:
        return JSONResponse({"status": "ok", "parts": parts})
    body = {
        "status": "down",
        "parts": parts,
        **error_body("unavailable", f"down: {', '.join(down)}"),
    }
    return JSONResponse(body, status_code=503)
