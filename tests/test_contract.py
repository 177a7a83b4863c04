"""One problem and plan contract: the parser, the serialiser and the JSON Schema come from one field table."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from daysupport import REPO, assert_conforms, assert_plan_conforms

from planner import (
    HaversineProvider,
    Kpis,
    Plan,
    SolveParams,
    evaluate,
    horizon_from_json,
    horizon_to_json,
    is_horizon_json,
    load_problem,
    plan_from_json,
    plan_json_schema,
    plan_to_json,
    problem_from_json,
    problem_json_schema,
    problem_to_json,
    solve,
)
from planner.cli import main

PROBLEMS = sorted((REPO / "fixtures" / "problems").glob("*.json"))
TINY = REPO / "fixtures" / "problems" / "tiny.json"


def _tiny() -> dict[str, Any]:
    return json.loads(TINY.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_every_fixture_problem_conforms_and_round_trips(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if is_horizon_json(raw):  # a week (or longer) problem: its own schema and parser
        assert_conforms(raw, "horizon")
        horizon = horizon_from_json(raw)
        again = json.loads(json.dumps(horizon_to_json(horizon)))
        assert_conforms(again, "horizon")
        assert horizon_from_json(again) == horizon
        return
    assert_conforms(raw, "problem")
    problem = problem_from_json(raw)
    written = json.loads(json.dumps(problem_to_json(problem)))
    assert_conforms(written, "problem")
    assert problem_from_json(written) == problem
    assert problem_to_json(problem_from_json(written)) == written


def _everything() -> dict[str, Any]:
    """The tiny problem with every optional input the contract knows."""
    data = _tiny()
    data["service_times"]["by_role"] = {"routine": {"case_manager": 1800}}
    data["risk_model"] = {"cadence_days": {"regular": 30}, "weight": {"self_care": 2.5}}
    data["households"][0]["priority"] = 12.5
    data["households"][0]["availability"] = {"tue": [["09:00", "12:00"], {"start": "14:00", "end": "18:00"}]}
    data["visits"][0]["priority"] = 0
    data["visits"][1]["note"] = "first line\nsecond line"
    data["workers"][0]["end"] = {"lat": 37.47, "lon": 126.95}
    data["workers"][0]["break"] = {"window": ["12:00", "13:30"]}  # duration defaults to the window
    places = [h["location"] for h in data["households"]] + [
        loc for w in data["workers"] for loc in (w["start"], w.get("end") or w["start"])]
    unique = [dict(t) for t in dict.fromkeys(tuple(sorted(p.items())) for p in places)]
    n = len(unique)
    data["travel_matrix"] = {
        "locations": unique, "source": "osrm (test)",
        "walk": {"duration_s": [[abs(i - j) * 300 for j in range(n)] for i in range(n)],
                 "distance_m": [[abs(i - j) * 330 for j in range(n)] for i in range(n)]},
        "drive": {"duration_s": [[abs(i - j) * 60 for j in range(n)] for i in range(n)]},
    }
    return data


def test_every_optional_input_conforms_and_round_trips() -> None:
    data = _everything()
    assert_conforms(data, "problem")
    problem = problem_from_json(data)
    assert problem.workers[0].break_s == 90 * 60
    assert problem.households[0].priority == 12.5 and problem.visits[0].priority == 0
    assert problem.risk_model is not None and problem.risk_model.cadence_days == {"regular": 30}
    assert problem.travel_matrix is not None and problem.travel_matrix.source == "osrm (test)"
    written = json.loads(json.dumps(problem_to_json(problem)))
    assert_conforms(written, "problem")
    assert problem_from_json(written) == problem


# Each edit is refused by the parser and by the JSON Schema alike: they cannot drift apart.
REFUSED_BY_BOTH = {
    "latitude out of range": lambda d: d["households"][0]["location"].update(lat=91),
    "unknown field": lambda d: d["visits"][0].update(colour="red"),
    "unknown risk value": lambda d: d["households"][0]["risk"].update(housing="castle"),
    "one-digit hour": lambda d: d["workers"][0].update(shift=["9:00", "18:00"]),
    "hour 25": lambda d: d["visits"][0].update(time_windows=[["25:00", "26:00"]]),
    "unknown role": lambda d: d["workers"][0].update(role="wizard"),
    "fractional load": lambda d: d["visits"][0].update(load=1.5),
    "negative priority": lambda d: d["visits"][0].update(priority=-1),
    "priority as text": lambda d: d["households"][0].update(priority="high"),
    "unknown tier in risk_model": lambda d: d.update(risk_model={"cadence_days": {"vip": 3}}),
    "zero cadence": lambda d: d.update(risk_model={"cadence_days": {"regular": 0}}),
    "unknown weekday": lambda d: d["households"][0].update(availability={"someday": []}),
    "17 windows": lambda d: d["visits"][0].update(time_windows=[[f"{h:02d}:00", f"{h:02d}:30"] for h in range(6, 23)]),
    "empty id": lambda d: d["visits"][0].update(id=""),
    "control character in a name": lambda d: d["workers"][0].update(name="kim\x00"),
    "speed factor 0": lambda d: d["workers"][0].update(speed_factor=0),
    "timezone": lambda d: d.update(timezone="Europe/Paris"),
    "negative travel time": lambda d: d["travel_matrix"]["walk"]["duration_s"][0].__setitem__(1, -5),
    "missing travel time": lambda d: d["travel_matrix"]["walk"]["duration_s"][1].__setitem__(0, None),
    "unknown travel mode": lambda d: d["travel_matrix"].update(bike=d["travel_matrix"]["walk"]),
}


@pytest.mark.parametrize("name", list(REFUSED_BY_BOTH))
def test_the_parser_and_the_schema_refuse_the_same_input(name: str) -> None:
    import jsonschema

    data = _everything()
    REFUSED_BY_BOTH[name](data)
    with pytest.raises(ValueError):
        problem_from_json(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, problem_json_schema(), cls=jsonschema.Draft202012Validator)


def _solved() -> tuple[Any, Plan]:
    problem = load_problem(TINY)
    return problem, solve(problem, HaversineProvider(), SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)).plan


def test_a_solved_plan_conforms_and_round_trips() -> None:
    problem, plan = _solved()
    assert isinstance(plan.kpis, Kpis) and plan.kpis.visits_total == len(problem.visits)
    assert_plan_conforms(plan)
    data = plan_to_json(plan)
    assert set(data["kpis"]) >= {"visits_total", "risk_weighted_coverage", "visits_by_tier", "utilisation",
                                 "worst_overdue_left_out"}
    assert data["kpis"]["visits_by_tier"]["urgent"] == {"total": 1, "served": 1}
    assert plan.to_json() == data and Plan.from_json(data) == plan


def test_kpis_are_a_frozen_typed_value() -> None:
    _, plan = _solved()
    assert plan.kpis is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.kpis.travel_s = 0  # type: ignore[misc]
    assert plan.kpis.visits_by_tier["urgent"].served == 1


def test_a_plan_without_kpis_and_with_foreign_fields_reads() -> None:
    """A hand-edited plan has no KPIs yet ({}); the API's plans carry version fields and stop statuses."""
    _, plan = _solved()
    data = plan_to_json(plan)
    data["kpis"] = {}
    data["version"] = 3
    data["routes"][0]["stops"][0]["status"] = "done"
    read = plan_from_json(data)
    assert read.kpis is None and read.routes == plan.routes
    assert_conforms(data, "plan")
    assert plan_to_json(read)["kpis"] == {}


def test_the_plan_schema_refuses_what_the_parser_refuses() -> None:
    import jsonschema

    _, plan = _solved()
    for edit in (
        lambda d: d["routes"][0].update(travel_s=-1),
        lambda d: d["unassigned"].append({"visit_id": "x", "reason": "bored"}),
        lambda d: d["routes"][0]["stops"][0].update(start=5),
        lambda d: d["kpis"].update(visits_total="six"),
        lambda d: d.update(date="2026-13-01"),
    ):
        data = copy.deepcopy(plan_to_json(plan))
        edit(data)
        with pytest.raises(ValueError):
            plan_from_json(data)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, plan_json_schema(), cls=jsonschema.Draft202012Validator,
                                format_checker=jsonschema.FormatChecker())


def test_the_cli_writes_a_conforming_plan_and_prints_both_schemas(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(TINY), "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--quiet", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert_conforms(data, "plan")
    problem = load_problem(TINY)
    assert evaluate(problem, plan_from_json(data), HaversineProvider()).ok
    capsys.readouterr()
    assert main(["schema", "--plan"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Salpimi plan"
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(problem_json_schema()))
    # The ranges of the field table are the schema's.
    priority = schema["properties"]["visits"]["items"]["properties"]["priority"]
    assert priority["type"] == ["number", "null"] and priority["minimum"] == 0
