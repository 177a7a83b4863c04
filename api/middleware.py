"""Request size limits as a pure ASGI middleware (413 problem+json, even for chunked bodies)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PROBLEM_JSON, TYPE_BASE
from .redact import shown_path

__all__ = ["BodyLimitMiddleware"]


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (``import_max_bytes`` on ``.../import`` routes)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, import_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.import_max_bytes = import_max_bytes

    def _limit(self, path: str) -> int:
        return self.import_max_bytes if path.rstrip("/").endswith("/import") else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._reply(scope, send, limit)
                return
        received = 0
        started = False
        replied = False

        async def limited_receive() -> Message:
            nonlocal received, replied
            if replied:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    # Answer now and tell the app the client went away; whatever it
                    # tries to send afterwards is dropped.
                    replied = True
                    await self._reply(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if replied:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not replied:
                raise

    @staticmethod
    async def _reply(scope: Scope, send: Send, limit: int) -> None:
        body: dict[str, Any] = {
            "type": TYPE_BASE + "payload-too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"the request body exceeds the limit of {limit} bytes",
            "instance": shown_path(scope.get("path", "")),
        }
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(raw)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})
