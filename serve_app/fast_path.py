"""``POST /api/deals/{id}/purchase`` answered below FastAPI's router and middleware.

That plumbing cost more than the purchase's own work (docs/design.md, "Performance"),
so this ASGI wrapper reads the request itself, does what the app's middleware would
for this one route (the body size limit, a 503 for a dependency that does not answer, a
JSON 500 for an unexpected error), and
calls the same ``purchase_answer`` as the FastAPI route (serve_app/routes/purchase.py, which
also states the contract for OpenAPI). Every other request passes on to FastAPI.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from serve_app.bootstrap import Shop
from serve_app.errors import UNAVAILABLE, describe_unavailable
from serve_app.routes.purchase import Answer, error, purchase_answer

logger = logging.getLogger("flashsale.http")
PATH = re.compile(r"/api/deals/([^/]+)/purchase")


class PurchaseFastPath:
    def __init__(self, app: Any, shop: Shop) -> None:
        self.app = app
        self._shop = shop
        self._max = shop.settings.max_body_bytes
        self._too_large = error(
            413, "body_too_large", f"request bodies are limited to {self._max} bytes"
        )

    def __getattr__(self, name: str) -> Any:
        # Serve registers its own exception handlers on the app it is given.
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(scope, receive, match.group(1))
        except UNAVAILABLE as exc:
            # As the app's handler answers them (serve_app/errors.py): a Redis whose
            # breaker is open is a 503 to retry, not a 500. Not logged per request: in
            # an outage that is every request, and the breakers' state is in /healthz
            # and the metrics.
            answer = Answer(*describe_unavailable(exc))
        except Exception:
            logger.exception("unhandled error on a purchase")
            answer = error(500, "internal_error", "something went wrong on our side")
        payload = json.dumps(answer.body, separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if answer.headers:
            headers += [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, receive: Receive, deal_id: str) -> Answer:
        authorization = key = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                key = value.decode("latin-1")
            elif name == b"content-length" and (not value.isdigit() or int(value) > self._max):
                return self._too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":
                return error(400, "bad_request", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                return self._too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await purchase_answer(self._shop, authorization, deal_id, key, b"".join(chunks))
