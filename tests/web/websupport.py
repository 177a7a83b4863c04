"""Helpers of the web page tests: the server under test, screenshots, and driving the page as a person would
(open it, sign in, wait for it to settle), console errors collected."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "api" / "web" / "index.html"
CHROMIUM = Path(os.environ.get("SALPIMI_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=ko-KR",
]
#: Screenshots of every run; with SALPIMI_UPDATE_SCREENSHOTS=1 the README's pictures in docs/img/ too.
ARTIFACTS = REPO / ".salpimi" / "web-artifacts"
DOCS_IMG = REPO / "docs" / "img"
FIXTURE = REPO / "fixtures" / "problems" / "gwanak.json"


def _why_not() -> str | None:
    if not BUNDLE.is_file():
        if shutil.which("npm") is None:
            return "npm is not installed, so the web page cannot be built (install Node.js and npm, then make venv)"
        return "the web page is not built: run `npm ci && npm run build` (make venv does it)"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium fonts-nanum; .ci/run does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


REASON = _why_not()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_database() -> tuple[str, Callable[[], None]]:
    """A new, empty PostgreSQL database on ``$SALPIMI_TEST_PG`` and how to drop it; skipped when the server is
    unreachable (failed when SALPIMI_REQUIRE_PG=1, as in .ci/run)."""
    import psycopg
    import pytest

    admin_url = os.environ.get("SALPIMI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {admin_url} ({type(exc).__name__}); set SALPIMI_TEST_PG"
        if os.environ.get("SALPIMI_REQUIRE_PG") == "1":
            pytest.fail(reason + " (SALPIMI_REQUIRE_PG=1)")
        pytest.skip(reason)
    name = f"salpimi_web_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"{admin_url.rpartition('/')[0]}/{name}", drop


class Server:
    """A running ``salpimi serve --demo`` on a free port with a fresh SQLite database."""

    def __init__(self, base: str, data_dir: Path, proc: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.data_dir = data_dir
        self.proc = proc
        self.creds: dict[str, dict[str, str]] = json.loads((data_dir / "demo-credentials.json").read_text())
        self.day: str = json.loads(FIXTURE.read_text(encoding="utf-8"))["date"]
        self.team_id: str = self.api("GET", "/v1/teams", user="dispatcher")["data"][0]["id"]

    def api(self, method: str, path: str, *, user: str = "dispatcher", body: Any = None) -> Any:
        """The API itself, as ``user`` (with the demo's API key): what the page shows is checked against it."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "X-API-Key": self.creds[user]["api_key"], "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            raw = res.read()
        return json.loads(raw) if raw else None


def add_user(server: Server, username: str, role: str, *, team_id: str, worker_id: str | None = None) -> None:
    """A user of ``team_id`` made the operator's way (``salpimi user add``), signed in as the demo's users are:
    its password and API key join ``server.creds``."""
    import re
    import sys

    password = "pw-" + secrets.token_hex(8)
    cmd = [str(Path(sys.executable).with_name("salpimi")), "user", "add", username, "--role", role, "--team", team_id,
           "--password", password, "--api-key", "--data-dir", str(server.data_dir)]
    if worker_id:
        cmd += ["--worker", worker_id]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    key = re.search(r"API key:\s+(\S+)", out)
    assert key, out
    server.creds[username] = {"password": password, "api_key": key.group(1)}


def non_local(urls: list[str]) -> list[str]:
    """The requests that left the machine: any host but this one (data: and blob: URLs stay in the page)."""
    from urllib.parse import urlsplit

    return [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in ("127.0.0.1", "localhost", "::1")]


def save_screenshot(page: Any, name: str, **kw: Any) -> Path:
    """A screenshot as a test artifact; copied into docs/img/ when SALPIMI_UPDATE_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    if os.environ.get("SALPIMI_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / path.name)
    return path


LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
#: body[data-ready] is set by the page once the plan (or "none") is drawn, map included.
SETTLED = "body[data-ready]:not([data-ready='']):not([data-ready='login'])"


@dataclass
class Visit:
    page: Any
    context: Any
    problems: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def settle(self, timeout_ms: int = 60_000) -> None:
        self.page.wait_for_selector(SETTLED, state="attached", timeout=timeout_ms)

    def close(self) -> None:
        self.context.close()


def open_page(browser: Any, server: Any, user: str, *, viewport: dict[str, int] = LAPTOP,
              lang: str | None = None, routes: dict[str, Callable[[Any], None]] | None = None) -> Visit:
    """A fresh context (Korean, Seoul), signed in as ``user`` through the form, on the demo's day; ``routes``
    answers requests to those URL patterns in the test (a tile server, say) before the page loads."""
    context = browser.new_context(viewport=viewport, locale="ko-KR", timezone_id="Asia/Seoul",
                                  is_mobile=viewport["width"] < 600, has_touch=viewport["width"] < 600)
    for pattern, handler in (routes or {}).items():
        context.route(pattern, handler)
    page = context.new_page()
    visit = Visit(page, context)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            visit.problems.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.on("request", lambda r: visit.urls.append(r.url))
    page.on("pageerror", lambda exc: visit.problems.append(f"page error: {exc}"))
    page.on("response", lambda r: r.status >= 400 and visit.problems.append(f"HTTP {r.status} {r.request.method} {r.url}"))
    page.goto(f"{server.base}/?date={server.day}")
    if lang:
        page.select_option("#lang", lang)
    page.get_by_label("아이디" if lang != "en" else "User name").fill(user)
    page.get_by_label("비밀번호" if lang != "en" else "Password").fill(server.creds[user]["password"])
    page.get_by_role("button", name="로그인" if lang != "en" else "Sign in").click()
    visit.settle()
    return visit
