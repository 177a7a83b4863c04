"""End to end: import a road network, plan on it, and a household far from every street is unreachable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daysupport import REPO

from planner.cli import main

TINY_OSM = REPO / "fixtures" / "osm" / "tiny.osm"


def _problem(path: Path) -> None:
    base = {"lat": 37.4797986, "lon": 126.9500000}  # node 1
    homes = {
        "h-near": {"lat": 37.4780000, "lon": 126.9522664},  # node 11
        "h-east": {"lat": 37.4789000, "lon": 126.9533996},  # node 8
        "h-far": {"lat": 37.4708, "lon": 126.9515},  # ~800 m south of every street
    }
    path.write_text(json.dumps({
        "name": "tiny road network",
        "date": "2026-11-24",
        "households": [{"id": k, "location": v, "last_contact": "2026-10-01"} for k, v in homes.items()],
        "workers": [
            {"id": "car", "role": "mobile_unit", "start": base, "shift": ["09:00", "18:00"], "travel_mode": "drive"},
            {"id": "nurse", "role": "visiting_nurse", "start": base, "shift": ["09:00", "18:00"],
             "break": {"window": ["12:00", "13:00"], "duration_s": 3600}},
        ],
        "visits": [{"id": f"v-{k}", "household_id": k} for k in homes],
    }), encoding="utf-8")


def test_plan_on_an_imported_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("SALPIMI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["network", "import", str(TINY_OSM), "--name", "tiny"]) == 0
    problem = tmp_path / "p.json"
    _problem(problem)
    out = tmp_path / "plan.json"
    capsys.readouterr()
    assert main(["plan", str(problem), "--network", "tiny", "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "straight-line" not in captured.err
    plan = json.loads(out.read_text(encoding="utf-8"))
    assert {s["visit_id"] for r in plan["routes"] for s in r["stops"]} == {"v-h-near", "v-h-east"}
    (u,) = plan["unassigned"]
    assert u["visit_id"] == "v-h-far" and u["reason"] == "unreachable" and "limit 500 m" in u["detail"]
    assert any("osm:" in t for t in plan["meta"]["travel"])
    assert main(["check", str(problem), str(out), "--network", "tiny"]) == 0


def test_unknown_network_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("SALPIMI_DATA_DIR", str(tmp_path / "data"))
    problem = tmp_path / "p.json"
    _problem(problem)
    assert main(["plan", str(problem), "--network", "nowhere"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]


def test_plan_without_network_says_it_uses_straight_lines(tmp_path: Path, capsys) -> None:
    problem = tmp_path / "p.json"
    _problem(problem)
    assert main(["plan", str(problem), "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--quiet"]) == 0
    assert "straight-line estimates" in capsys.readouterr().err


def test_plan_geojson_follows_streets_on_a_network_and_is_straight_otherwise(tmp_path: Path) -> None:
    from planner import HaversineProvider, SolveParams, load_problem, plan_geojson, solve
    from planner.travel.osm import OsmProvider

    path = tmp_path / "p.json"
    _problem(path)
    problem = load_problem(path)
    osm = OsmProvider(path=TINY_OSM, name="tiny", cache_dir=tmp_path / "cache")
    plan = solve(problem, osm, SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)).plan
    fc = plan_geojson(problem, plan, osm)
    legs = [f for f in fc["features"] if f["properties"]["kind"] == "leg"]
    assert legs and all(f["properties"]["along_streets"] for f in legs)
    assert max(len(f["geometry"]["coordinates"]) for f in legs) > 2
    stops = [f for f in fc["features"] if f["properties"]["kind"] == "stop"]
    assert len(stops) == 2 and all("household" not in k for f in stops for k in f["properties"])
    flat = plan_geojson(problem, plan, HaversineProvider())
    assert all(len(f["geometry"]["coordinates"]) == 2 for f in flat["features"] if f["properties"]["kind"] == "leg")
