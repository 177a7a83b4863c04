"""A travel matrix the user brings (OSRM, Valhalla or a commercial service run elsewhere), as a provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daysupport import REPO

from planner import (
    Location,
    MatrixProvider,
    SolveParams,
    evaluate,
    load_problem,
    problem_from_json,
    solve,
)
from planner.cli import main

TINY = REPO / "fixtures" / "problems" / "tiny.json"


def _places(data: dict[str, Any]) -> list[dict[str, float]]:
    places = [h["location"] for h in data["households"]]
    for w in data["workers"]:
        places += [w["start"], w.get("end") or w["start"]]
    return [dict(t) for t in dict.fromkeys(tuple(sorted(p.items())) for p in places)]


def with_matrix(*, distances: bool = True) -> dict[str, Any]:
    """tiny.json with a hand-made asymmetric matrix: i -> j takes 60 + 7 i + 3 j seconds (0 on the diagonal)."""
    data = json.loads(TINY.read_text(encoding="utf-8"))
    places = _places(data)
    n = len(places)
    table: dict[str, Any] = {"duration_s": [[0 if i == j else 60 + 7 * i + 3 * j for j in range(n)] for i in range(n)]}
    if distances:
        table["distance_m"] = [[0 if i == j else 50 * (i + j) for j in range(n)] for i in range(n)]
    modes = {w.get("travel_mode", "walk") for w in data["workers"]}
    data["travel_matrix"] = {"locations": places, "source": "osrm (test)", **{m: table for m in modes}}
    return data


def _seconds(i: int, j: int) -> int:
    return 0 if i == j else 60 + 7 * i + 3 * j


def test_the_provider_answers_the_rows_asked_for_in_their_order() -> None:
    problem = problem_from_json(with_matrix())
    table = problem.travel_matrix
    assert table is not None
    provider = MatrixProvider(table)
    a, b, c = table.locations[2], table.locations[0], table.locations[3]
    m = provider.matrix([a, b, c], mode="walk")
    assert m.duration_s.tolist() == [[0, _seconds(2, 0), _seconds(2, 3)],
                                     [_seconds(0, 2), 0, _seconds(0, 3)],
                                     [_seconds(3, 2), _seconds(3, 0), 0]]
    assert m.duration_s[0, 1] != m.duration_s[1, 0]  # asymmetric, never symmetrised
    assert m.distance_m[0, 1] == 100 and m.source == "osrm (test)"
    with pytest.raises(ValueError) as exc:
        provider.matrix([a, Location(lat=1.0, lon=2.0)], mode="walk")
    assert "1.0" not in str(exc.value) and "place 1 of 2" in str(exc.value)  # no coordinates in the message


def test_a_plan_made_with_the_matrix_travels_by_it() -> None:
    problem = problem_from_json(with_matrix())
    assert problem.travel_matrix is not None
    travel = MatrixProvider(problem.travel_matrix)
    result = solve(problem, travel, SolveParams(time_limit_s=30, deterministic=True, solution_limit=20))
    assert result.plan.meta["travel"] == ["osrm (test)"]
    assert evaluate(problem, result.plan, travel).ok
    row = {(p.lat, p.lon): i for i, p in enumerate(problem.travel_matrix.locations)}
    households = problem.households_by_id()
    workers = problem.workers_by_id()
    legs = 0
    for route in result.plan.routes:
        here = row[(workers[route.worker_id].start.lat, workers[route.worker_id].start.lon)]
        for stop in route.stops:
            there = row[(households[stop.household_id].location.lat, households[stop.household_id].location.lon)]
            assert stop.travel_s == _seconds(here, there)
            assert stop.travel_m == (0 if here == there else 50 * (here + there))
            here, legs = there, legs + 1
    assert legs >= 5


def test_without_distances_legs_count_zero_metres() -> None:
    problem = problem_from_json(with_matrix(distances=False))
    assert problem.travel_matrix is not None
    plan = solve(problem, MatrixProvider(problem.travel_matrix), SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)).plan
    assert plan.kpis is not None and plan.kpis.travel_m == 0 and plan.kpis.travel_s > 0


def test_the_cli_plans_and_checks_with_the_problems_matrix(tmp_path: Path, capsys: Any) -> None:
    f, out = tmp_path / "p.json", tmp_path / "plan.json"
    f.write_text(json.dumps(with_matrix()), encoding="utf-8")
    assert main(["plan", str(f), "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--quiet", "--out", str(out)]) == 0
    assert "the problem's own travel_matrix (osrm (test))" in capsys.readouterr().err
    assert json.loads(out.read_text(encoding="utf-8"))["meta"]["travel"] == ["osrm (test)"]
    assert main(["check", str(f), str(out)]) == 0
    assert "OK: no violations" in capsys.readouterr().out
    # Against straight lines the same plan's times no longer hold.
    assert main(["check", str(TINY), str(out)]) == 1
    capsys.readouterr()
    assert main(["plan", str(f), "--network", "gwanak", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "carries its own travel_matrix" in err[0], err


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        target = d["travel_matrix"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _drop_last_location(d: dict[str, Any]) -> None:
    d["travel_matrix"]["locations"].pop()


def _one_row_short(d: dict[str, Any]) -> None:
    d["travel_matrix"]["walk"]["duration_s"].pop()


def _ragged(d: dict[str, Any]) -> None:
    d["travel_matrix"]["walk"]["duration_s"][2].pop()


def _household_elsewhere(d: dict[str, Any]) -> None:
    d["households"][0]["location"] = {"lat": 37.5, "lon": 127.0}


def _driver_without_drive_matrix(d: dict[str, Any]) -> None:
    d["workers"][0]["travel_mode"] = "drive"


def _duplicate_location(d: dict[str, Any]) -> None:
    d["travel_matrix"]["locations"][1] = d["travel_matrix"]["locations"][0]


BAD = {
    "a row too few": (_one_row_short, "walk.duration_s: 6 rows for 7 locations"),
    "a ragged row": (_ragged, "duration_s[2]: expected a row of 7 values (one per location), got 6 values"),
    "rows for fewer locations": (_drop_last_location, "walk.duration_s: 7 rows for 6 locations"),
    "a negative time": (_set(("walk", "duration_s", 1, 2), -30), "walk.duration_s[1][2]: negative value -30"),
    "a missing time": (_set(("walk", "duration_s", 3, 0), None), "walk.duration_s[3][0]: missing value (null)"),
    "a time as text": (_set(("walk", "duration_s", 0, 1), "5 min"), "walk.duration_s[0][1]: expected a number"),
    "a negative distance": (_set(("walk", "distance_m", 4, 4), -1), "walk.distance_m[4][4]: negative value"),
    "a time of two days": (_set(("walk", "duration_s", 0, 1), 172_800), "outside 0..86400 (s)"),
    "not a table": (_set(("walk", "duration_s"), {"a": 1}), "walk.duration_s: expected a list"),
    "an unknown mode": (_set(("bike",), {"duration_s": []}), "unknown field(s) 'bike'"),
    "no locations": (_set(("locations",), None), "travel_matrix.locations: expected a list"),
    "a household not among the locations": (_household_elsewhere,
                                            "the location of household t-h1 (visit t-v1) is not among them"),
    "a driver without a drive matrix": (_driver_without_drive_matrix,
                                        "has no drive matrix, but worker t-nurse travels by drive"),
    "the same location twice": (_duplicate_location, "travel_matrix.locations[1]: repeats locations[0]"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_matrix_is_one_line_and_exit_2(tmp_path: Path, capsys: Any, name: str) -> None:
    edit, expect = BAD[name]
    data = with_matrix()
    edit(data)
    f = tmp_path / "p.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    assert main(["plan", str(f), "--time-limit", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0] and "Traceback" not in err[0], err
    assert "37.4" not in err[0] and "126.9" not in err[0]  # no coordinates in the message


def test_the_matrix_round_trips_exactly() -> None:
    problem = problem_from_json(with_matrix())
    from planner import problem_to_json

    again = problem_from_json(json.loads(json.dumps(problem_to_json(problem))))
    assert again == problem and again.travel_matrix is not None
    assert again.travel_matrix.duration_s["walk"].dtype == np.int64
    assert load_problem(TINY).travel_matrix is None
