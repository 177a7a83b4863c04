"""Small things a new user hit: the demo banner after a restart, API-key times in +09:00."""

from __future__ import annotations

import re
from pathlib import Path

import apisupport
import pytest
from apisupport import TINY, World
from daysupport import serve_without_listening

from api.cli import main

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def test_demo_banner_names_the_demo_team_and_day_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    serve_without_listening(monkeypatch)
    serve = ["serve", "--demo", "--fixture", str(TINY), "--data-dir", str(tmp_path), "--port", "8799"]
    banner = re.compile(r"Salpimi demo: team (.+) \((tm_\w+)\), day (\S+)")

    assert main(serve) == 0
    first = banner.search(capsys.readouterr().out)
    assert first is not None
    assert main(["load", str(TINY), "--name", "AAA comes first", "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(serve) == 0  # a restart: the database is no longer empty
    out = capsys.readouterr().out
    again = banner.search(out)
    assert again is not None and "loaded" not in out  # not loaded twice
    assert again.groups() == first.groups()
    assert again.group(3) == "2026-11-24" and "YYYY" not in out


def test_api_key_times_are_in_seoul_time(world: World) -> None:
    me = world.actors["dispatcher_a"]
    r = world.post(f"/v1/users/{me.user_id}/api-keys", "dispatcher_a", json={"name": "laptop"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["created_at"].endswith("+09:00"), created
    assert created["expires_at"] is None or created["expires_at"].endswith("+09:00")
    listed = world.get("/v1/api-keys", "dispatcher_a").json()["data"]
    assert listed and all(k["created_at"].endswith("+09:00") for k in listed)
