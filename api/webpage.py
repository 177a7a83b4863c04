"""The dispatcher web page: its built files at ``/``, with a strict Content-Security-Policy and cache headers."""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings
from .errors import ApiError
from .services.webviews import ViewCache

__all__ = ["HeadAsGet", "content_security_policy", "install_web_page", "web_dir"]

PACKAGED_WEB_DIR = Path(__file__).resolve().parent / "web"
#: Top-level files of the bundle that may be served (``index.html`` only at ``/``); nothing in sub-folders
#: but ``assets/``.
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TYPES = {
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".map": "application/json", ".json": "application/json",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".webp": "image/webp",
    ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}
#: In ``assets/`` the build's file names carry a content hash (esbuild: ``app-CGUM2YQA.js``): such a file never
#: changes under its name.
_HASHED = re.compile(r".*[-.][A-Za-z0-9_]{8,}\.(js|mjs|css)$")
_COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".html", ".map", ".json", ".svg", ".txt"})

MISSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Salpimi</title></head>
<body><h1>Salpimi</h1>
<p>The web page is not built. From the project folder run <code>npm ci &amp;&amp; npm run build</code>
(or <code>make venv</code>), then reload. The API is at <a href="/docs">/docs</a>.</p>
<p lang="ko">웹 화면이 아직 빌드되지 않았습니다. 프로젝트 폴더에서
<code>npm ci &amp;&amp; npm run build</code>를 실행한 뒤 새로 고침하세요.</p></body></html>
"""


def web_dir(settings: Settings) -> Path:
    """Where the page's built files are: the ``web_dir`` setting, else the packaged ``api/web/``."""
    return settings.web_dir if settings.web_dir is not None else PACKAGED_WEB_DIR


def _origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The page's policy: its own scripts and styles only (no inline code, no eval), MapLibre's workers
    from the page's origin or ``blob:``, images from ``data:``/``blob:``, and the tile server when one is set."""
    tiles = _origin(settings.tile_url)
    extra = f" {tiles}" if tiles else ""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob:{extra}",
        "font-src 'self' data:",
        f"connect-src 'self'{extra}",
        "worker-src 'self' blob:",
        "child-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _page_headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


@dataclass(frozen=True, slots=True)
class _File:
    stamp: tuple[int, int]  # mtime_ns, size: read again when the build changes
    etag: str
    body: bytes
    gzipped: bytes | None


class _Files:
    """The bundle's files as served: read once per build, ETag from the content, gzip for text (a phone
    loads MapLibre's 1 MB script as about 300 KB)."""

    def __init__(self) -> None:
        self._files: dict[Path, _File] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> _File:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._files.get(path)
        if hit is not None and hit.stamp == stamp:
            return hit
        body = path.read_bytes()
        text = path.suffix.lower() in _COMPRESSIBLE and len(body) > 1024
        made = _File(stamp=stamp, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"', body=body,
                     gzipped=gzip.compress(body, compresslevel=6, mtime=0) if text else None)
        with self._lock:
            self._files[path] = made
        return made


def _serve(request: Request, files: _Files, path: Path, media_type: str, cache: str, settings: Settings) -> Response:
    f = files.get(path)
    headers = {**_page_headers(settings), "Cache-Control": cache, "ETag": f.etag, "Vary": "Accept-Encoding"}
    match = request.headers.get("if-none-match", "")
    if f.etag in (t.strip().removeprefix("W/") for t in match.split(",")):
        return Response(status_code=304, headers=headers)
    accepts = {part.split(";")[0].strip() for part in request.headers.get("accept-encoding", "").split(",")}
    if f.gzipped is not None and "gzip" in accepts:
        return Response(f.gzipped, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(f.body, media_type=media_type, headers=headers)


class HeadAsGet:
    """``HEAD`` answered as ``GET`` would be (status, headers, ``Content-Length``) without the body, on every
    route that answers ``GET``: link checkers and uptime probes ask that way, and a route table of ``GET``
    routes would answer 405.  A streamed answer (server-sent events) ends after its headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return
        done = False

        async def headless(message: Message) -> None:
            nonlocal done
            if done:
                return
            if message["type"] == "http.response.body":
                done = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        async def until_done() -> Message:
            return {"type": "http.disconnect"} if done else await receive()

        await self.app({**scope, "method": "GET"}, until_done, headless)


def _not_found(name: str) -> ApiError:
    return ApiError(404, f"{name}: no such file of the web page")


def install_web_page(app: FastAPI, settings: Settings) -> None:
    """``GET /`` (the page, or a short note on how to build it) and the page's files beside it.

    Every response carries the page's Content-Security-Policy.  ``index.html`` and the top-level files are
    revalidated on each load (``no-cache`` with an ETag); files in ``assets/`` whose names carry a content
    hash are cached for a year.  Text files go gzipped to clients that accept it.  Nothing outside the
    bundle folder is ever read.
    """
    root = web_dir(settings)
    files = _Files()
    app.add_middleware(HeadAsGet)  # outermost: HEAD reaches every GET route, the page's files included
    app.state.view_cache = ViewCache()  # the page's derived views: street layers, insertion options

    @app.get("/", tags=["web page"], summary="The dispatcher web page (sign in with the API's token flow)",
             response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}}})
    def index(request: Request) -> Response:
        page = root / "index.html"
        if not page.is_file():
            return HTMLResponse(MISSING_PAGE, headers={**_page_headers(settings), "Cache-Control": "no-cache"})
        return _serve(request, files, page, "text/html; charset=utf-8", "no-cache", settings)

    def _file(request: Request, folder: Path, name: str, *, hashed_names: bool) -> Response:
        if not _FILE.fullmatch(name) or name == "index.html" or ".." in name:
            raise _not_found(name)
        suffix = Path(name).suffix.lower()
        media = _TYPES.get(suffix)
        path = folder / name
        if media is None or not path.is_file() or path.is_symlink() or path.resolve().parent != folder.resolve():
            raise _not_found(name)
        immutable = hashed_names and _HASHED.fullmatch(name)
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return _serve(request, files, path, media, cache, settings)

    @app.get("/assets/{name}", tags=["web page"], summary="A file of the web page (assets folder)",
             include_in_schema=False)
    def asset(name: str, request: Request) -> Response:
        return _file(request, root / "assets", name, hashed_names=True)

    @app.get("/{name}", tags=["web page"], summary="A file of the web page (scripts, styles, the map's worker)",
             include_in_schema=False)
    def top_file(name: str, request: Request) -> Response:
        return _file(request, root, name, hashed_names=False)
