"""Fixtures of the web page tests: the real API server with the Gwanak demo, and Debian's Chromium driven
by Playwright (its own browser download cannot work here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websupport import ARGS, CHROMIUM, REASON, REPO, Server, free_port, postgres_database


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    if REASON is None:
        return
    skip = pytest.mark.skip(reason=REASON)
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("web-data")
    port = free_port()
    log = open(data_dir.parent / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "SALPIMI_DATA_DIR": str(data_dir), "SALPIMI_MAX_WORKERS": "1"}
    env.pop("DATABASE_URL", None)
    env.update(getattr(request.module, "SERVER_ENV", {}))  # a module may serve with settings of its own
    drop_database = None
    if getattr(request.module, "SERVER_DATABASE", "sqlite") == "postgresql":  # else SQLite in the data dir
        env["DATABASE_URL"], drop_database = postgres_database()
    salpimi = Path(sys.executable).with_name("salpimi")
    serve = [str(salpimi), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    network = getattr(request.module, "SERVER_NETWORK", None)  # a module may serve with a road network
    if network is not None:
        subprocess.run([str(salpimi), "network", "import", str(REPO / network), "--name", "web",
                        "--data-dir", str(data_dir)], cwd=REPO, env=env, check=True, capture_output=True)
        serve += ["--network", "web"]
    proc = subprocess.Popen(serve, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"salpimi serve exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(base + "/v1/web/config", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"salpimi serve did not answer within 90 s; see {log.name}") from None
                time.sleep(0.3)
        yield Server(base, data_dir, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if drop_database is not None:
            drop_database()


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    extra = getattr(request.module, "CHROMIUM_EXTRA_ARGS", [])
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS + list(extra))
        try:
            yield b
        finally:
            b.close()


