"""A server started with a road network plans on the streets; an unknown network is refused up front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apisupport import DAY, QUICK_JOB, REPO, bootstrap_manager, make_settings, wait_for_job
from fastapi.testclient import TestClient

from api.cli import main
from api.main import create_app

TINY_OSM = REPO / "fixtures" / "osm" / "tiny.osm"


def _problem() -> dict[str, Any]:
    base = {"lat": 37.4797986, "lon": 126.9500000}
    homes = {"h-near": {"lat": 37.4780000, "lon": 126.9522664}, "h-far": {"lat": 37.4708, "lon": 126.9515}}
    return {
        "name": "tiny streets", "date": DAY,
        "households": [{"id": k, "location": v, "last_contact": "2026-10-01"} for k, v in homes.items()],
        "workers": [{"id": "car", "role": "mobile_unit", "start": base, "travel_mode": "drive"}],
        "visits": [{"id": f"v-{k}", "household_id": k} for k in homes],
    }


def test_plan_jobs_use_the_configured_road_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALPIMI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["network", "import", str(TINY_OSM), "--name", "tiny"]) == 0
    backend = {"name": "sqlite", "database_url": None, "data_dir": tmp_path}
    with TestClient(create_app(make_settings(backend, network="tiny")), raise_server_exceptions=False) as client:
        manager = bootstrap_manager(client).headers
        r = client.post("/v1/teams/load?name=streets", json=_problem(), headers=manager)
        assert r.status_code == 201, r.text
        team = r.json()["team"]["id"]
        r = client.post("/v1/plan-jobs", json={"team_id": team, "date": DAY, **QUICK_JOB}, headers=manager)
        assert r.status_code == 202, r.text
        job = wait_for_job(client, manager, r.json()["id"])
        assert job["status"] == "succeeded", job
        plan = client.get(f"/v1/plans/{job['plan_id']}", headers=manager).json()
        assert any("osm:tiny" in t for t in plan["meta"]["travel"]), plan["meta"]
        (u,) = plan["unassigned"]
        assert u["reason"] == "unreachable" and "limit 500 m" in u["detail"]
        check = client.post(f"/v1/plans/{job['plan_id']}/check", headers=manager).json()
        assert check["ok"] is True, check


def test_serve_refuses_an_unknown_network_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--data-dir", str(tmp_path), "--network", "atlantis", "--port", "8799"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "atlantis" in err[0]
