"""A lean HTTP/1.1 keep-alive client for the flash sale's buyers.

With httpx (its pool and anyio layers) a 2,000-buyer sale here ran at ~160 requests/s
with the load generator's core busy: the buyers, not the shop, set the pace. This is
what a buyer's request needs: one coroutine per connection, requests one at a time
on it, a Content-Length body (what HAProxy and the baselines send). A connection that
fails is opened again by the next request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Connection:
    def __init__(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers lower-cased, JSON body or {}). Raises OSError or
        TimeoutError when the connection fails; the next call opens a new one."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._exchange(method, path, headers, body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise ConnectionError(f"{method} {path} failed") from None

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self._host}:{self._port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        elif method != "GET":
            head.append("Content-Length: 0")
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        status_line = await self._reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        answer: dict[str, str] = {}
        while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()] = value.strip()
        length = int(answer.get("content-length", "0"))
        raw = await self._reader.readexactly(length) if length else b""
        if answer.get("connection", "").lower() == "close":
            await self.close()
        return status, answer, (json.loads(raw) if raw else {})

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None
