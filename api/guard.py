"""Requests refused at the door (control characters in the URL: 400; unreadable body media type: 415; a JSON body
naming a key twice: 422); OPTIONS."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import unquote_plus

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from planner.io import duplicate_key

from .errors import loc_field, problem_response
from .models import ErrorItem
from .redact import shown_path

__all__ = ["InputGuardMiddleware", "expected_media_types", "install_guards"]

_JSON = ("application/json", "application/*+json")
_FORM = ("application/x-www-form-urlencoded", "multipart/form-data")
_MULTIPART = ("multipart/form-data",)
_SPEC = ("application/json", "application/*+json", "application/toml")  # a scenario: JSON or TOML
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_HOW = {
    _JSON: "send the body as JSON (Content-Type: application/json)",
    _FORM: "send the form as application/x-www-form-urlencoded",
    _MULTIPART: "upload the file as multipart/form-data (field `file`)",
    _SPEC: "send the scenario as JSON (application/json) or TOML (application/toml)",
}


def _has_control(text: str) -> bool:
    return any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in text)


def expected_media_types(path: str) -> tuple[str, ...]:
    """The media types a body sent to ``path`` may have: CSV imports are multipart, sign-in is a form, the rest JSON."""
    path = path.rstrip("/")
    if path.endswith("/import"):
        return _MULTIPART
    if path == "/v1/auth/token":
        return _FORM
    if path == "/v1/scenarios":
        return _SPEC
    return _JSON


def _media_ok(content_type: str, allowed: tuple[str, ...]) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    for pattern in allowed:
        if pattern == "application/*+json":
            if media.startswith("application/") and media.endswith("+json"):
                return True
        elif media == pattern:
            return True
    return False


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers


def path_table(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Each path the app serves, as a regex, with its methods: the OpenAPI paths (every documented
    route) and the app's own top-level routes (``/docs``, ``/openapi.json``...)."""
    by_path: dict[str, set[str]] = {}
    for path, item in app.openapi().get("paths", {}).items():
        by_path.setdefault(path, set()).update(m.upper() for m in item if m.islower())
    for route in app.router.routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(path, str) and methods:
            by_path.setdefault(path, set()).update(methods)
    table = []
    for path, methods in by_path.items():
        table.append((compile_path(path)[0], frozenset(methods | {"OPTIONS"})))
    return table


class InputGuardMiddleware:
    """Refuse, before routing, URLs with control characters and bodies of a media type the route cannot read;
    answer ``OPTIONS`` with the path's ``Allow`` header."""

    def __init__(self, app: ASGIApp, *, api: FastAPI) -> None:
        self.app = app
        self.api = api  # its routes are added after the middleware, so the table is built on first use
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def allowed_methods(self, path: str) -> frozenset[str]:
        """The methods answered on ``path`` (empty when nothing is there)."""
        if self._table is None:
            self._table = path_table(self.api)
        found: set[str] = set()
        for regex, methods in self._table:
            if regex.match(path):
                found |= methods
        return frozenset(found)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        status, detail = 0, ""
        if _has_control(path) or _has_control(unquote_plus(query)):
            status, detail = 400, "the URL contains a control character (such as %00)"
        elif scope.get("method") in _WITH_BODY:
            headers = dict(scope.get("headers") or [])
            allowed = expected_media_types(path)
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if _has_body(headers) and not _media_ok(content_type, allowed):
                status = 415
                detail = _HOW[allowed] + (
                    f", not {content_type.split(';', 1)[0][:60]}" if content_type else ""
                )
        elif scope.get("method") == "OPTIONS":
            methods = self.allowed_methods(path)
            if methods:
                allow = ", ".join(sorted(methods))
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, send)
                return
            status, detail = 404, f"no resource at {shown_path(path)}"
        if status:
            # The path is echoed as the problem's instance without what a client put in it (shown_path).
            response = problem_response(None, status, detail, instance=shown_path(path))
            await response(scope, receive, send)
            return
        if scope.get("method") in _WITH_BODY:
            headers = dict(scope.get("headers") or [])
            if _has_body(headers) and _media_ok(headers.get(b"content-type", b"").decode("latin-1"), _JSON):
                # Every JSON body is read here once before the app parses it: an object naming a key twice is
                # refused (the parser would keep the last value without a word).
                messages, body = await _read_body(receive)
                where = duplicate_key(body) if body is not None else None
                if where is not None:
                    field = loc_field(("body", *where))
                    response = problem_response(
                        None, 422, f"{field}: duplicate key (an object names it twice; remove one)",
                        errors=[ErrorItem(field=field, message="duplicate key")], instance=shown_path(path),
                        values_removed=True,
                    )
                    await response(scope, receive, send)
                    return
                receive = _replay(messages, receive)
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages up to the end of its body, and the body (``None`` if the client went away)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = deque(messages)

    async def replay() -> Message:
        return pending.popleft() if pending else await receive()

    return replay


def install_guards(app: FastAPI) -> None:
    """Add the guard: 400 for control characters in the URL, 415 for unreadable bodies, 204 + Allow for OPTIONS."""
    app.add_middleware(InputGuardMiddleware, api=app)
